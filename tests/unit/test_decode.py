"""Every rejection reason is a dashboard series and a dead-letter label: each must be
reachable, and a good event must pass through untouched."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest

from streams.decode import REASONS, Rejection, check_time, decode, validate_object
from streams.events import CallAnswered, CallCompleted

MAX = 4096
NOW = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)

ANSWERED = {
    "event_id": "e-1",
    "type": "call.answered",
    "occurred_at": "2024-05-06T09:00:00+02:00",
    "call_id": "c-1",
    "queue": "billing",
    "agent_id": "a-7",
    "wait_seconds": 12.5,
}


def raw(obj: object) -> bytes:
    return orjson.dumps(obj)


def reason(result: object) -> str:
    assert isinstance(result, Rejection), result
    assert result.error  # a reason without an explanation helps nobody
    return result.reason


BYTE_CASES = {
    "empty": [None, b""],
    "oversized": [b'{"type": "' + b"x" * MAX + b'"}'],
    "not_utf8": [b'{"type": "call.answered", "queue": "\xff\xfe"}'],
    "malformed_json": [b'{"type": "call.answered",', b"nope", b'{"a": 1} trailing'],
    "not_object": [b"[1, 2]", b'"call.answered"', b"42", b"null"],
    "missing_type": [raw({"event_id": "e"}), raw({**ANSWERED, "type": 7}), raw({**ANSWERED, "type": ""})],
    "unknown_type": [raw({**ANSWERED, "type": "call.transferred"})],
    "wrong_topic": [raw({**ANSWERED, "type": "ticket.created", "ticket_id": "t"})],
    "unknown_schema_version": [
        raw({**ANSWERED, "schema_version": 2}),
        raw({**ANSWERED, "schema_version": "1"}),
        raw({**ANSWERED, "schema_version": True}),  # True == 1 in Python: must not slip through
    ],
}

INVALID = {
    "missing field": {k: v for k, v in ANSWERED.items() if k != "wait_seconds"},
    "wrong type": {**ANSWERED, "wait_seconds": "soon"},
    "naive timestamp": {**ANSWERED, "occurred_at": "2024-05-06T09:00:00"},
    "negative duration": {**ANSWERED, "wait_seconds": -1},
    "duration over a day": {**ANSWERED, "wait_seconds": 86401},
    "extra unknown field": {**ANSWERED, "wait_secs": 3},
    "bad segment name": {**ANSWERED, "queue": "billing queue!"},
}


@pytest.mark.parametrize(
    "expected,message",
    [(r, m) for r, messages in BYTE_CASES.items() for m in messages],
)
def test_rejection_reasons_from_bytes(expected: str, message: bytes | None) -> None:
    assert reason(decode(message, "calls", MAX)) == expected


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_events_name_the_field(case: str) -> None:
    result = decode(raw(INVALID[case]), "calls", MAX)
    assert reason(result) == "invalid"
    field = {"missing field": "wait_seconds", "wrong type": "wait_seconds",
             "naive timestamp": "occurred_at", "negative duration": "wait_seconds",
             "duration over a day": "wait_seconds", "extra unknown field": "wait_secs",
             "bad segment name": "queue"}[case]
    assert field in result.error


def test_every_decodable_reason_is_covered() -> None:
    """A new reason in decode.py should come with a test here."""
    from_check_time = {"future", "late"}  # tested below
    worker_only = {"conflict", "out_of_order", "internal_error"}  # need worker state
    assert set(REASONS) == set(BYTE_CASES) | {"invalid"} | from_check_time | worker_only


def test_size_limit_is_inclusive() -> None:
    message = raw(ANSWERED)
    assert isinstance(decode(message, "calls", len(message)), CallAnswered)
    assert reason(decode(message, "calls", len(message) - 1)) == "oversized"


def test_valid_event_round_trips() -> None:
    event = decode(raw(ANSWERED), "calls", MAX)
    assert isinstance(event, CallAnswered)
    assert event.occurred_at.utcoffset() == timedelta(hours=2)
    assert event.schema_version == 1 and event.channel == "voice"
    again = decode(event.model_dump_json(exclude_none=True).encode(), "calls", MAX)
    assert again == event
    assert validate_object(event.model_dump(mode="json"), "calls") == event


def test_completed_defaults_and_whitespace() -> None:
    event = validate_object(
        {"event_id": " e-2 ", "type": "call.completed", "occurred_at": "2024-05-06T07:00:00Z",
         "call_id": "c-1", "queue": "billing", "talk_seconds": 30}, "calls")
    assert isinstance(event, CallCompleted)
    assert event.event_id == "e-2"
    assert (event.hold_seconds, event.acw_seconds, event.transfers) == (0.0, 0.0, 0)


EVENT = validate_object({**ANSWERED, "occurred_at": NOW.isoformat()}, "calls")


@pytest.mark.parametrize(
    "offset,expected",
    [
        (timedelta(seconds=-301), "future"),  # occurred 301 s ahead of the worker clock
        (timedelta(seconds=-299), None),  # within the allowed skew
        (timedelta(0), None),
        (timedelta(seconds=3599), None),
        (timedelta(seconds=3601), "late"),
    ],
)
def test_check_time(offset: timedelta, expected: str | None) -> None:
    result = check_time(EVENT, NOW + offset, lateness_s=3600, skew_s=300)
    assert (None if result is None else reason(result)) == expected
