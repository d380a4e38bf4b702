"""Surveys, tickets and carts through broker -> worker -> Redis -> exporter, exact figures.

Every expectation is computed by hand from the events below (the TV3 NPS of 30, the
§4.3 TTR of 12 h, seed 004's top-two-box CSAT), including a cart that only the
worker's inactivity timer can count as abandoned, and detractors on cx.followups.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest

from cxpulse.settings import load_settings
from cxpulse.stack import LocalStack
from tests.integration.support import consume, labels, processed, publish, samples, wait_for

pytestmark = pytest.mark.integration

H = 3600.0
T0 = datetime.now(timezone.utc)


@pytest.fixture(autouse=True)
def _fresh_clock() -> None:
    """Event times are relative to when each test starts, not to when the module was imported."""
    global T0
    T0 = datetime.now(timezone.utc)


def at(seconds_ago: float) -> str:
    return (T0 - timedelta(seconds=seconds_ago)).isoformat()


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    settings = load_settings(
        app_id="itest-streams",
        batch_within_seconds=0.05,
        allowed_lateness_seconds=3 * 86400,  # tickets resolved after 30 h carry old events
        survey_min_sample=5,
        cart_abandon_timeout_seconds=60,
        cart_timer_interval_seconds=0.5,
    )
    with LocalStack(settings=settings) as local:
        local.start_infra()
        local.start_worker()
        local.start_exporter()
        yield local


def survey(eid: str, survey_type: str, score: int, ago: float = 30, **fields: Any) -> dict[str, Any]:
    scale = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[survey_type]
    base = {"event_id": eid, "type": "survey.response", "occurred_at": at(ago), "survey_id": f"S-{eid}",
            "survey_type": survey_type, "score": score, "scale_min": scale[0], "scale_max": scale[1],
            "queue": "sales", "touchpoint": "post_call", "customer_id": f"cust-{eid}"}
    return base | fields


def test_surveys(stack: LocalStack) -> None:
    s = stack.settings
    # a call in "billing", answered by agent "bob": a survey about it names neither
    publish(stack, [{"event_id": "call-77-ans", "type": "call.answered", "occurred_at": at(200),
                     "call_id": "call-77", "queue": "billing", "agent_id": "bob", "wait_seconds": 4},
                    {"event_id": "call-77-done", "type": "call.completed", "occurred_at": at(120),
                     "call_id": "call-77", "queue": "billing", "agent_id": "bob", "talk_seconds": 60}])
    wait_for(stack, lambda snap: processed(snap, s.topics.calls) >= 2, "the call")

    nps_scores = [10, 9, 9, 10, 9, 8, 7, 7, 3, 6]  # TV3: 50 % promoters, 20 % detractors
    events = [survey(f"n{i}", "nps", score, agent_id="ann") for i, score in enumerate(nps_scores)]
    events += [survey(f"c{i}", "csat", score) for i, score in enumerate([5, 5, 5, 4, 4, 4, 4, 3, 2, 1])]
    events += [survey(f"e{i}", "ces", score) for i, score in enumerate([7, 6, 5, 2])]
    events += [{"event_id": f"sent{i}", "type": "survey.sent", "occurred_at": at(600), "survey_id": f"X{i}",
                "survey_type": "nps", "queue": "sales", "touchpoint": "post_call"} for i in range(20)]
    attributed = survey("a1", "nps", 2, contact_id="call-77", queue=None, touchpoint="email")
    attributed = {k: v for k, v in attributed.items() if v is not None}
    publish(stack, [*events, attributed])
    snap = wait_for(stack, lambda snap: processed(snap, s.topics.surveys) >= len(events) + 1, "the surveys")

    (sales,) = [seg for seg in snap["surveys"]["segments"] if seg["queue"] == "sales"]
    assert (sales["channel"], sales["touchpoint"]) == ("voice", "post_call")
    day = sales["windows"]["24h"]
    assert day["counts"]["nps_promoters"] == 5 and day["counts"]["nps_passives"] == 3
    assert day["counts"]["nps_detractors"] == 2
    k = day["kpis"]
    assert k["nps"] == pytest.approx(30.0)
    assert k["nps_band"] == "favorable"  # TV4, seed 003 bands
    assert k["csat"] == pytest.approx(0.7)  # 4s and 5s: 7 of 10
    assert k["csat_mean"] == pytest.approx(3.7)
    assert k["ces_mean"] == pytest.approx(5.0)
    assert k["ces_easy_rate"] == pytest.approx(0.75)
    assert k["response_rate"]["nps"] == pytest.approx(0.5)
    assert k["meaningful"] == {"nps": True, "csat": True, "ces": False}  # 4 CES answers < min sample 5
    assert sales["last_n"]["nps"] == pytest.approx(30.0) and sales["last_n"]["responses"] == 10

    # the survey about call-77 went to the call's queue, and to its agent in the API
    (billing,) = [seg for seg in snap["surveys"]["segments"] if seg["queue"] == "billing"]
    assert billing["windows"]["24h"]["counts"]["nps_detractors"] == 1
    assert snap["surveys"]["agents"]["bob"]["windows"]["24h"]["counts"]["nps_responses"] == 1
    assert snap["surveys"]["agents"]["ann"]["windows"]["24h"]["kpis"]["nps"] == pytest.approx(30.0)
    assert snap["surveys"]["by_queue"]["sales"]["windows"]["7d"]["kpis"]["nps"] == pytest.approx(30.0)

    m = samples(stack.get_text("/metrics"))
    seg = dict(queue="sales", channel="voice", touchpoint="post_call")
    assert m[("cx_nps_score", labels(**seg, window="24h"))] == pytest.approx(30.0)
    assert m[("cx_nps_responses", labels(**seg, window="24h"))] == 10
    assert m[("cx_csat_ratio", labels(**seg, window="1h"))] == pytest.approx(0.7)
    assert m[("cx_nps_promoters_total", labels(**seg))] == 5
    assert m[("cx_survey_responses_total", labels(**seg, survey_type="csat"))] == 10
    assert m[("cx_survey_min_sample", ())] == 5
    assert not any("agent" in dict(lbls) for _, lbls in m)  # agents stay out of Prometheus

    # detractors (3, 6 and the attributed 2) are handed to the CRM on cx.followups
    followups = consume(stack, s.topics.followups, expected=3)
    assert sorted(v["score"] for _, v in followups) == [2, 3, 6]
    assert {v["reason"] for _, v in followups} == {"nps_detractor"}
    assert {key for key, _ in followups} == {b"cust-n8", b"cust-n9", b"cust-a1"}
    assert any(v.get("contact_id") == "call-77" for _, v in followups)


def ticket(eid: str, type_: str, ticket_id: str, ago: float, **fields: Any) -> dict[str, Any]:
    return {"event_id": eid, "type": type_, "occurred_at": at(ago), "ticket_id": ticket_id, "queue": "support",
            "channel": "email", **fields}


def test_tickets(stack: LocalStack) -> None:
    s = stack.settings
    events = [
        ticket("t1c", "ticket.created", "T1", 5 * H, category="delivery"),
        ticket("t1f", "ticket.first_response", "T1", 4.5 * H, created_at=at(5 * H)),  # FRT 30 min
        ticket("t1r", "ticket.resolved", "T1", 3 * H, created_at=at(5 * H), contact_count=1),  # TTR 2 h
        ticket("t2c", "ticket.created", "T2", 6 * H, category="delivery"),
        ticket("t2f", "ticket.first_response", "T2", 5 * H, created_at=at(6 * H)),  # FRT 1 h
        ticket("t2e", "ticket.escalated", "T2", 5 * H, level=1),
        ticket("t2e2", "ticket.escalated", "T2", 4.5 * H, level=2),  # a second level: same escalated ticket
        ticket("t2r", "ticket.resolved", "T2", 2 * H, created_at=at(6 * H), contact_count=2),  # TTR 4 h
        ticket("t3r", "ticket.resolved", "T3", 1 * H, created_at=at(31 * H), contact_count=1),  # TTR 30 h
        ticket("t4c", "ticket.created", "T4", 2 * H, category="billing"),  # still open
        ticket("t1o", "ticket.reopened", "T1", 0.5 * H, created_at=at(5 * H)),  # back in the backlog
    ]
    publish(stack, events)
    snap = wait_for(stack, lambda snap: processed(snap, s.topics.tickets) >= len(events), "the tickets")
    (seg,) = snap["tickets"]["segments"]
    day = seg["windows"]["24h"]
    assert day["counts"]["created"] == 3 and day["counts"]["resolved"] == 3  # T3 was resolved 1 h ago
    k = day["kpis"]
    assert k["escalation_rate"] == pytest.approx(1 / 3)
    assert k["frt_mean_seconds"] == pytest.approx(2700)
    assert k["top_categories"] == [["delivery", 2], ["billing", 1]]
    week = seg["windows"]["7d"]["kpis"]
    # catalog §4.3: resolved in 2 h, 4 h and 30 h -> 12 h (seed 004: over resolved tickets)
    assert week["ttr_mean_seconds"] == pytest.approx(12 * H)
    assert week["ttr_p50_seconds"] == pytest.approx(3 * H)  # half-way through (2 h, 4 h]
    assert week["ttr_p90_seconds"] == pytest.approx(86400 + 0.7 * 86400)  # 70 % into (24 h, 48 h]
    assert week["fcr"] == pytest.approx(2 / 3)
    assert week["reopen_rate"] == pytest.approx(1 / 3)
    assert seg["live"]["open"] == 2  # T4, and T1 reopened
    assert seg["live"]["oldest_open_age_seconds"] == pytest.approx(5 * H, abs=60)

    m = samples(stack.get_text("/metrics"))
    lbl = dict(queue="support", channel="email")
    assert m[("cx_tickets_open", labels(**lbl))] == 2
    assert m[("cx_ticket_ttr_seconds", labels(**lbl, window="7d", stat="mean"))] == pytest.approx(12 * H)
    assert m[("cx_tickets_resolved_total", labels(**lbl))] == 3
    assert m[("cx_ticket_resolution_seconds_total", labels(**lbl))] == pytest.approx(36 * H)
    assert m[("cx_tickets_by_category", labels(**lbl, window="24h", category="delivery"))] == 2


def cart(eid: str, type_: str, cart_id: str, ago: float, **fields: Any) -> dict[str, Any]:
    return {"event_id": eid, "type": type_, "occurred_at": at(ago), "cart_id": cart_id, **fields}


def test_carts_including_one_abandoned_by_the_timer(stack: LocalStack) -> None:
    s = stack.settings
    events = [
        cart("k1a", "cart.created", "K1", 600),
        cart("k1b", "cart.item_added", "K1", 590, sku="A", quantity=2, unit_price=10),
        cart("k1c", "checkout.started", "K1", 580),
        cart("k1d", "checkout.completed", "K1", 570, amount=20, currency="EUR"),
        cart("k2a", "cart.created", "K2", 500),
        cart("k2b", "checkout.completed", "K2", 490, amount=40, currency="EUR"),
        cart("k3a", "cart.created", "K3", 400),  # idle since: the timer (60 s) abandons it
        cart("k4a", "cart.created", "K4", 300),
        cart("k4b", "cart.abandoned", "K4", 290),
        cart("k5a", "cart.created", "K5", 5),  # fresh: still open
    ]
    publish(stack, events)

    def settled(snap: dict[str, Any]) -> bool:
        totals = snap["carts"]["all"]["windows"]["1h"]["counts"]
        return processed(snap, s.topics.carts) >= len(events) and totals["abandoned_timeout"] >= 1

    snap = wait_for(stack, settled, "the carts and the abandonment timer")
    (seg,) = snap["carts"]["segments"]
    hour = seg["windows"]["1h"]
    assert hour["counts"]["created"] == 5 and hour["counts"]["completed"] == 2
    assert hour["counts"]["abandoned_timeout"] == 1 and hour["counts"]["abandoned_explicit"] == 1
    assert hour["kpis"]["abandonment_rate"] == pytest.approx(2 / 5)
    assert hour["kpis"]["completion_rate"] == pytest.approx(2 / 5)
    assert hour["kpis"]["aov"] == {"EUR": pytest.approx(30.0)}
    assert seg["live"]["open"] == 1

    m = samples(stack.get_text("/metrics"))
    assert m[("cx_carts_abandoned_total", labels(channel="web", how="timeout"))] == 1
    assert m[("cx_carts_abandoned_total", labels(channel="web", how="explicit"))] == 1
    assert m[("cx_cart_revenue_total", labels(channel="web", currency="EUR"))] == 60
    assert m[("cx_cart_abandonment_ratio", labels(channel="web", window="1h"))] == pytest.approx(0.4)
    assert m[("cx_carts_open", labels(channel="web"))] == 1
