"""What each call event adds to Redis, without Redis."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from cxpulse.settings import load_settings
from processors.fold import CALL_FIELDS, fingerprint, fold
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


def test_other_streams_have_no_counters_yet() -> None:
    ticket = validate_object(
        {"event_id": "t", "type": "ticket.created", "occurred_at": T0.isoformat(), "ticket_id": "T1"}, "tickets"
    )
    update = fold(SETTINGS, "tickets", ticket)
    assert update.counts == {} and update.ops == []
