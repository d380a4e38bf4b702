"""An independent recomputation of the pipeline's figures from the raw event log.

Deliberately shares no code with the worker (no fold, no Lua, no KPI module): the
drills compare the pipeline's Redis totals and ``/api/kpis`` against this, so a lost
or doubled event anywhere shows up as a difference. Per segment, it covers every call
counter, the survey answer counts (NPS classes, CSAT satisfied, CES), the ticket and
cart volumes, and the live figures (calls waiting, tickets and carts open). Sums of
normalised scores and durations histograms are left to the unit tests of the KPIs.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable

SL_T, SHORT = 20.0, 5.0
FCR_WINDOW = 7 * 86400.0
# the default settings: CSAT "satisfied" answers per scale, CES "easy" on the 1-7 axis
CSAT_SATISFIED = {(1, 5): {4, 5}, (1, 7): {6, 7}, (0, 10): {9, 10}, (1, 10): {9, 10}, (0, 1): {1}}
CES_EASY_FROM = 5


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


def _segments(totals: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {seg: {k: v for k, v in fields.items() if v} for seg, fields in totals.items()}


def survey_totals(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per "queue|channel|touchpoint" (``-`` when absent): sends and answer counts."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for e in events:
        kind = e["type"]
        if not kind.startswith("survey."):
            continue
        t = totals[f"{e.get('queue') or '-'}|{e.get('channel', 'voice')}|{e.get('touchpoint') or '-'}"]
        survey = e["survey_type"]
        if kind == "survey.sent":
            t[f"sent_{survey}"] += 1
            continue
        t[f"responses_{survey}"] += 1
        t[f"{survey}_responses"] += 1
        score, scale = e["score"], (e.get("scale_min", 0), e.get("scale_max", 10))
        if survey == "nps":  # on 0-10; a 1-10 answer is classified the same way
            t["nps_promoters" if score >= 9 else "nps_passives" if score >= 7 else "nps_detractors"] += 1
        elif survey == "csat":
            t["csat_satisfied"] += score in CSAT_SATISFIED[scale]
        else:  # onto 1-7 with 7 = easiest, whichever way the question was asked
            share = (score - scale[0]) / (scale[1] - scale[0])
            easy = 1 + 6 * (share if e.get("polarity", "higher_is_better") == "higher_is_better" else 1 - share)
            t["ces_easy"] += easy >= CES_EASY_FROM
    return _segments(totals)


def ticket_totals(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per "queue|channel": volumes, plus ``open``: created or reopened, not resolved or
    closed since, in the queue it was last moved to (``ticket.reassigned`` ``to_queue``)."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    escalated: set[str] = set()
    state: dict[str, tuple[float, bool, str]] = {}  # ticket -> (time, open?, segment) of its latest step
    field = {"ticket.created": "created", "ticket.first_response": "first_responses", "ticket.reassigned": "reassigned",
             "ticket.resolved": "resolved", "ticket.closed": "closed", "ticket.reopened": "reopened"}
    for e in events:
        kind = e["type"]
        if not kind.startswith("ticket."):
            continue
        seg, ticket = f"{e['queue']}|{e.get('channel', 'voice')}", e["ticket_id"]
        if kind == "ticket.escalated":
            if ticket not in escalated:
                escalated.add(ticket)
                totals[seg]["escalated"] += 1
            continue
        totals[seg][field[kind]] += 1
        if kind == "ticket.created" and e.get("category"):
            totals[seg][f"cat:{e['category']}"] += 1
        if kind == "ticket.resolved":
            totals[seg]["resolved_first_contact"] += e.get("contact_count", 1) == 1
        ts = _ts(e["occurred_at"])
        if ticket in state and ts < state[ticket][0]:
            continue  # an earlier step published late changes nothing about where the ticket is now
        if kind in ("ticket.created", "ticket.reopened", "ticket.resolved", "ticket.closed"):
            state[ticket] = (ts, kind in ("ticket.created", "ticket.reopened"), seg)
        elif kind == "ticket.reassigned" and e.get("to_queue") and ticket in state:
            state[ticket] = (ts, state[ticket][1], f"{e['to_queue']}|{e.get('channel', 'voice')}")
    for _, is_open, seg in state.values():
        totals[seg]["open"] += is_open
    return _segments(totals)


def cart_totals(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per channel: carts created, checkouts, orders and revenue per currency, explicit
    abandons, and ``open`` (touched, neither completed nor abandoned; no timeout)."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    ended: set[str] = set()
    touched: dict[str, str] = {}
    for e in events:
        kind = e["type"]
        if not kind.startswith(("cart.", "checkout.")):
            continue
        seg, cart = e.get("channel", "voice"), e["cart_id"]
        t = totals[seg]
        if kind in ("cart.created", "cart.item_added", "checkout.started"):
            touched[cart] = seg
            t["created"] += kind == "cart.created"
            t["checkouts_started"] += kind == "checkout.started"
        elif kind == "checkout.completed":
            currency = e.get("currency", "EUR")
            t["completed"] += 1
            t[f"orders:{currency}"] += 1
            t[f"revenue:{currency}"] += e["amount"]
            ended.add(cart)
        elif kind == "cart.abandoned" and cart not in ended:
            t["abandoned"] += 1
            t["abandoned_explicit"] += 1  # the drills keep the inactivity timer out
            ended.add(cart)
    for cart, seg in touched.items():
        totals[seg]["open"] += cart not in ended
    return _segments(totals)


def figures(events: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Stream -> segment -> figure, as ``api_figures`` reads them from ``/api/kpis``."""
    calls = call_totals(events)
    for seg, waiting in calls_waiting(events).items():
        calls.setdefault(seg, {})["waiting"] = waiting
    return {"calls": calls, "surveys": survey_totals(events), "tickets": ticket_totals(events), "carts": cart_totals(events)}


# what the reference computes, per stream: names, and name prefixes ending in ":"
COMPARED = {
    "calls": {"offered", "answered", "answer_wait_seconds", "answered_within_sl", "abandoned", "abandon_wait_seconds",
              "short_abandoned", "abandoned_within_sl", "handled", "talk_seconds", "hold_seconds", "acw_seconds",
              "transfers", "transferred", "fcr_flagged", "fcr_resolved", "fcr_eligible", "repeat_contacts",
              "followed_by_repeat", "waiting"},
    "surveys": {f"{kind}_{survey}" for kind in ("sent", "responses") for survey in ("nps", "csat", "ces")}
    | {"nps_responses", "nps_promoters", "nps_passives", "nps_detractors", "csat_responses", "csat_satisfied",
       "ces_responses", "ces_easy"},
    "tickets": {"created", "first_responses", "reassigned", "escalated", "resolved", "resolved_first_contact",
                "closed", "reopened", "open", "cat:"},
    "carts": {"created", "checkouts_started", "completed", "abandoned", "abandoned_explicit", "open", "orders:",
              "revenue:"},
}
LIVE = {"calls": "waiting", "tickets": "open", "carts": "open"}
DIMS = {"calls": ("queue", "channel"), "surveys": ("queue", "channel", "touchpoint"),
        "tickets": ("queue", "channel"), "carts": ("channel",)}


def _compared(stream: str, name: str) -> bool:
    return name in COMPARED[stream] or name.split(":", 1)[0] + ":" in COMPARED[stream]


def api_figures(snapshot: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """The same figures from an ``/api/kpis`` snapshot: each segment's all-time totals
    and its live count, restricted to what the reference computes (windows and ages
    depend on the clock, so two runs of one workload cannot be compared on them)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for stream, dims in DIMS.items():
        out[stream] = {}
        for entry in snapshot[stream]["segments"]:
            fields = dict(entry["totals"])
            if stream in LIVE:
                fields[LIVE[stream]] = entry["live"][LIVE[stream]]
            kept = {k: float(v) for k, v in fields.items() if v and _compared(stream, k)}
            if kept:
                out[stream]["|".join(entry[d] or "-" for d in dims)] = kept
    return out


def calls_waiting(events: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Per "queue|channel": calls queued and neither answered nor abandoned."""
    queued: dict[str, str] = {}
    ended: set[str] = set()
    for e in events:
        if e["type"] == "call.queued":
            queued[e["call_id"]] = f"{e['queue']}|{e.get('channel', 'voice')}"
        elif e["type"] in ("call.answered", "call.abandoned"):
            ended.add(e["call_id"])
    waiting: dict[str, float] = defaultdict(float)
    for call, seg in queued.items():
        waiting[seg] += call not in ended
    return {seg: n for seg, n in waiting.items() if n}
