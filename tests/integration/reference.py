"""An independent recomputation of the call counters from the raw event log.

Deliberately shares no code with the worker (no fold, no Lua, no KPI module): the
drills compare the pipeline's Redis totals against this, so a lost or doubled event
anywhere shows up as a difference.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable

SL_T, SHORT = 20.0, 5.0
FCR_WINDOW = 7 * 86400.0


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def call_totals(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per "queue|channel": the same counters the exporter publishes as cx_calls_*_total."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    contacts: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    for e in events:
        kind = e["type"]
        if not kind.startswith("call."):
            continue
        seg = f"{e['queue']}|{e.get('channel', 'voice')}"
        t = totals[seg]
        if kind == "call.queued":
            t["offered"] += 1
        elif kind == "call.answered":
            t["answered"] += 1
            t["answer_wait_seconds"] += e["wait_seconds"]
            t["answered_within_sl"] += e["wait_seconds"] <= SL_T
        elif kind == "call.abandoned":
            t["abandoned"] += 1
            t["abandon_wait_seconds"] += e["wait_seconds"]
            t["short_abandoned"] += e["wait_seconds"] < SHORT
            t["abandoned_within_sl"] += e["wait_seconds"] <= SL_T
        elif kind == "call.completed":
            t["handled"] += 1
            t["talk_seconds"] += e["talk_seconds"]
            t["hold_seconds"] += e.get("hold_seconds", 0.0)
            t["acw_seconds"] += e.get("acw_seconds", 0.0)
            transfers = e.get("transfers", 0)
            t["transfers"] += transfers
            t["transferred"] += transfers > 0
            if e.get("resolved") is not None:
                t["fcr_flagged"] += 1
                t["fcr_resolved"] += bool(e["resolved"])
            if e.get("customer_id") and e.get("contact_reason"):
                t["fcr_eligible"] += 1
                contacts[(e["customer_id"], e["contact_reason"])].append((_ts(e["occurred_at"]), seg))
    # a contact is a repeat if another came within the window before it, and is
    # followed by a repeat if another came within the window after it
    for history in contacts.values():
        history.sort()
        for i, (ts, seg) in enumerate(history):
            if i > 0 and ts - history[i - 1][0] <= FCR_WINDOW:
                totals[seg]["repeat_contacts"] += 1
            if i + 1 < len(history) and history[i + 1][0] - ts <= FCR_WINDOW:
                totals[seg]["followed_by_repeat"] += 1
    return {seg: {k: v for k, v in fields.items() if v} for seg, fields in totals.items()}


def stream_counts(events: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Totals over all segments for the other streams (survey attribution may move
    answers between queues depending on timing; their sums may not move)."""
    out: dict[str, float] = defaultdict(float)
    escalated: set[str] = set()
    for e in events:
        kind = e["type"]
        if kind == "survey.response":
            out[f"responses_{e['survey_type']}"] += 1
            if e["survey_type"] == "nps":
                score = e["score"]
                out["nps_promoters" if score >= 9 else "nps_passives" if score >= 7 else "nps_detractors"] += 1
        elif kind == "survey.sent":
            out[f"sent_{e['survey_type']}"] += 1
        elif kind == "ticket.created":
            out["tickets_created"] += 1
        elif kind == "ticket.resolved":
            out["tickets_resolved"] += 1
        elif kind == "ticket.escalated" and e["ticket_id"] not in escalated:
            escalated.add(e["ticket_id"])
            out["tickets_escalated"] += 1
        elif kind == "cart.created":
            out["carts_created"] += 1
        elif kind == "checkout.completed":
            out["carts_completed"] += 1
            out["revenue"] += e["amount"]
    return dict(out)


def pipeline_counts(totals: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    """The same sums from the exporter's per-stream totals."""
    def total(stream: str, field: str) -> float:
        return sum(seg.get(field, 0.0) for seg in totals.get(stream, {}).values())

    out = {
        "tickets_created": total("tickets", "created"),
        "tickets_resolved": total("tickets", "resolved"),
        "tickets_escalated": total("tickets", "escalated"),
        "carts_created": total("carts", "created"),
        "carts_completed": total("carts", "completed"),
        "revenue": sum(v for seg in totals.get("carts", {}).values() for k, v in seg.items() if k.startswith("revenue:")),
        "nps_promoters": total("surveys", "nps_promoters"),
        "nps_passives": total("surveys", "nps_passives"),
        "nps_detractors": total("surveys", "nps_detractors"),
    }
    for t in ("nps", "csat", "ces"):
        out[f"responses_{t}"] = total("surveys", f"responses_{t}")
        out[f"sent_{t}"] = total("surveys", f"sent_{t}")
    return {k: v for k, v in out.items() if v}
