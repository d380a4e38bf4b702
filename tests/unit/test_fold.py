"""What each call event adds to Redis, without Redis."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from cxpulse.settings import load_settings
from processors.fold import fingerprint, fold
from processors.fold_calls import CALL_FIELDS
from streams.decode import validate_object

T0 = datetime(2026, 11, 22, 10, 0, 30, tzinfo=timezone.utc)
SETTINGS = load_settings(app_id="u", queues={"vip": {"sl_threshold_seconds": 10}})


def call(type_: str, queue: str = "sales", **fields: Any) -> Any:
    event = validate_object(
        {"event_id": "e1", "type": type_, "occurred_at": T0.isoformat(), "queue": queue, "call_id": "c1", **fields},
        "calls",
    )
    assert not hasattr(event, "reason"), event
    return event


def test_queued_offers_and_starts_waiting() -> None:
    update = fold(SETTINGS, "calls", call("call.queued"))
    assert update.counts == {"offered": 1}
    assert update.segment == "sales|voice"
    assert [op[0] for op in update.ops] == ["wait_add"]
    assert update.ops[0][3] == T0.timestamp()


@pytest.mark.parametrize(
    ("queue", "wait", "within"),
    [("sales", 20.0, True), ("sales", 20.5, False), ("vip", 10.0, True), ("vip", 12.0, False)],
)
def test_answered_within_the_queue_threshold(queue: str, wait: float, within: bool) -> None:
    update = fold(SETTINGS, "calls", call("call.answered", queue=queue, wait_seconds=wait))
    assert update.counts["answered"] == 1
    assert update.counts["answer_wait_seconds"] == wait
    assert ("answered_within_sl" in update.counts) is within
    assert update.ops[0][0] == "wait_end"


@pytest.mark.parametrize(("wait", "short", "within"), [(4.9, True, True), (5.0, False, True), (25.0, False, False)])
def test_abandon_classification(wait: float, short: bool, within: bool) -> None:
    counts = fold(SETTINGS, "calls", call("call.abandoned", wait_seconds=wait)).counts
    assert counts["abandoned"] == 1 and counts["abandon_wait_seconds"] == wait
    assert ("short_abandoned" in counts) is short
    assert ("abandoned_within_sl" in counts) is within


def test_completed_counts_handle_time_and_fcr() -> None:
    update = fold(
        SETTINGS, "calls",
        call("call.completed", talk_seconds=100, hold_seconds=20, acw_seconds=30, transfers=2,
             customer_id="cu", contact_reason="billing", resolved=False),
    )
    assert update.counts == {
        "handled": 1, "talk_seconds": 100, "hold_seconds": 20, "acw_seconds": 30, "transfers": 2, "transferred": 1,
        "fcr_flagged": 1, "fcr_resolved": 0, "fcr_eligible": 1,
    }
    contact = next(op for op in update.ops if op[0] == "contact")
    assert contact[2] == int(T0.timestamp() * 1000)
    assert contact[3] == 7 * 86400 * 1000
    assert set(update.counts) <= set(CALL_FIELDS)


def test_completed_without_customer_or_flag_is_not_fcr_eligible() -> None:
    update = fold(SETTINGS, "calls", call("call.completed", talk_seconds=10))
    assert "fcr_eligible" not in update.counts and "fcr_flagged" not in update.counts
    assert not any(op[0] == "contact" for op in update.ops)


def test_targets_cover_minute_hour_day_and_totals() -> None:
    update = fold(SETTINGS, "calls", call("call.queued"))
    keys = [k for k, _ in update.targets]
    assert keys == [
        f"u:calls:m:{int(T0.timestamp()) // 60 * 60}",
        f"u:calls:h:{int(T0.timestamp()) // 3600 * 3600}",
        f"u:calls:d:{int(T0.timestamp()) // 86400 * 86400}",
        "u:calls:total",
    ]
    assert update.targets[-1][1] == 0  # totals never expire
    assert update.dedupe_expire_at > T0.timestamp() + SETTINGS.allowed_lateness_seconds


def test_fingerprint_separates_content_not_arrival() -> None:
    a = call("call.answered", wait_seconds=3)
    b = call("call.answered", wait_seconds=3)
    c = call("call.answered", wait_seconds=4)
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)


def event(stream: str, type_: str, **fields: Any) -> Any:
    obj = {"event_id": "e1", "type": type_, "occurred_at": T0.isoformat(), **fields}
    parsed = validate_object(obj, stream)
    assert not hasattr(parsed, "reason"), parsed
    return parsed


@pytest.mark.parametrize(
    ("fields", "counts"),
    [
        ({"survey_type": "nps", "score": 9}, {"responses_nps": 1, "nps_responses": 1, "nps_promoters": 1}),
        ({"survey_type": "nps", "score": 7}, {"responses_nps": 1, "nps_responses": 1, "nps_passives": 1}),
        ({"survey_type": "nps", "score": 6, "scale_min": 1}, {"responses_nps": 1, "nps_responses": 1, "nps_detractors": 1}),
        ({"survey_type": "csat", "score": 4, "scale_min": 1, "scale_max": 5},
         {"responses_csat": 1, "csat_responses": 1, "csat_satisfied": 1, "csat_score": 4.0}),
        ({"survey_type": "csat", "score": 3, "scale_min": 1, "scale_max": 5},
         {"responses_csat": 1, "csat_responses": 1, "csat_score": 3.0}),
        # CES 1-5 worded "I had to make a lot of effort": 1 is the easiest answer -> 7
        ({"survey_type": "ces", "score": 1, "scale_min": 1, "scale_max": 5, "polarity": "lower_is_better"},
         {"responses_ces": 1, "ces_responses": 1, "ces_score": 7.0, "ces_easy": 1}),
        ({"survey_type": "ces", "score": 2, "scale_min": 1, "scale_max": 7},
         {"responses_ces": 1, "ces_responses": 1, "ces_score": 2.0}),
    ],
)
def test_survey_responses(fields: dict[str, Any], counts: dict[str, float]) -> None:
    update = fold(SETTINGS, "surveys", event("surveys", "survey.response", survey_id="s1", queue="sales", **fields))
    assert update.counts == pytest.approx(counts)
    assert update.segment == "sales|voice|-"
    assert [op[0] for op in update.ops] == (["lastn"] if fields["survey_type"] == "nps" else [])


def test_survey_without_queue_is_attributed_through_its_contact() -> None:
    update = fold(SETTINGS, "surveys", event("surveys", "survey.response", survey_id="s1", survey_type="nps",
                                              score=3, contact_id="call-7", touchpoint="ivr"))
    assert update.segment == "-|voice|ivr"
    assert update.attribute == ["u:contact:call-7", True, True]
    assert update.agent is None and update.agent_targets


def test_survey_sent_counts_per_type() -> None:
    update = fold(SETTINGS, "surveys", event("surveys", "survey.sent", survey_id="s1", survey_type="csat"))
    assert update.counts == {"sent_csat": 1}


def test_ticket_resolution_time_and_histogram() -> None:
    created = T0.replace(hour=6)  # resolved 4 h after creation
    update = fold(SETTINGS, "tickets", event("tickets", "ticket.resolved", ticket_id="T1", queue="support",
                                              created_at=created.isoformat(), contact_count=1))
    assert update.counts["resolved"] == 1
    assert update.counts["resolution_seconds"] == 4 * 3600
    assert update.counts["resolved_first_contact"] == 1
    assert [k for k in update.counts if k.startswith("ttr_b")] == ["ttr_b5"]  # (2h, 4h], upper bound inclusive
    assert [op[0] for op in update.ops] == ["wait_end", "contact_map"]


def test_ticket_created_enters_the_backlog_with_its_category() -> None:
    update = fold(SETTINGS, "tickets", event("tickets", "ticket.created", ticket_id="T1", category="delivery"))
    assert update.counts == {"created": 1, "cat:delivery": 1}
    assert update.ops[0][:4] == ["wait_add", "u:tickets:open:support|email", "T1", T0.timestamp()]


def test_escalations_are_counted_once_per_ticket_by_redis() -> None:
    update = fold(SETTINGS, "tickets", event("tickets", "ticket.escalated", ticket_id="T1", level=2))
    assert update.counts == {}
    assert update.ops == [["once", "u:tickets:escalated:T1", 90 * 86400, "escalated"]]


def test_cart_lifecycle_counts() -> None:
    created = fold(SETTINGS, "carts", event("carts", "cart.created", cart_id="K1"))
    assert created.counts == {"created": 1} and created.ops[0][0] == "cart_touch"
    assert created.segment == "web"
    done = fold(SETTINGS, "carts", event("carts", "checkout.completed", cart_id="K1", amount=42.5, currency="EUR"))
    assert done.counts == {"completed": 1, "revenue:EUR": 42.5, "orders:EUR": 1}
    abandoned = fold(SETTINGS, "carts", event("carts", "cart.abandoned", cart_id="K1"))
    assert abandoned.counts == {}  # counted by the Lua op, only if not already ended
    assert abandoned.ops[0][-1] == "abandoned_explicit"
