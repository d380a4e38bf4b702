"""Every rejection reason is a dashboard series and a dead-letter label: each must be
reachable, and a good event must pass through untouched."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest
from pydantic import BaseModel, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from streams.decode import REASONS, Rejection, check_time, decode, schema_reason, validate_envelope, validate_object
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

SURVEY = {
    "event_id": "s-1",
    "type": "survey.response",
    "occurred_at": "2024-05-06T09:00:00Z",
    "survey_id": "csat-1",
    "survey_type": "csat",
    "score": 4,
    "scale_min": 1,
    "scale_max": 5,
}

# case -> (stream, event, expected reason, what the error must name)
SCHEMA_CASES = {
    "missing field": ("calls", {k: v for k, v in ANSWERED.items() if k != "wait_seconds"},
                      "missing_field", "wait_seconds"),
    "wrong type": ("calls", {**ANSWERED, "wait_seconds": "soon"}, "wrong_type", "wait_seconds"),
    "number for a name": ("calls", {**ANSWERED, "queue": 5}, "wrong_type", "queue"),
    "fractional count": ("calls", {k: v for k, v in ANSWERED.items() if k != "wait_seconds"}
                         | {"type": "call.completed", "talk_seconds": 30, "transfers": 1.5}, "wrong_type", "transfers"),
    "unparseable timestamp": ("calls", {**ANSWERED, "occurred_at": "yesterday"}, "wrong_type", "occurred_at"),
    "naive timestamp": ("calls", {**ANSWERED, "occurred_at": "2024-05-06T09:00:00"}, "naive_timestamp", "occurred_at"),
    "negative duration": ("calls", {**ANSWERED, "wait_seconds": -1}, "out_of_range", "wait_seconds"),
    "duration over a day": ("calls", {**ANSWERED, "wait_seconds": 86401}, "out_of_range", "wait_seconds"),
    "extra unknown field": ("calls", {**ANSWERED, "wait_secs": 3}, "unknown_field", "wait_secs"),
    "bad segment name": ("calls", {**ANSWERED, "queue": "billing queue!"}, "bad_format", "queue"),
    "empty event id": ("calls", {**ANSWERED, "event_id": ""}, "bad_format", "event_id"),
    "score beyond any scale": ("surveys", {**SURVEY, "score": 5000}, "out_of_range", "score"),
    # checks across fields come from the model validator: the fallback reason, the text says which
    "score outside its own scale": ("surveys", {**SURVEY, "score": 6}, "out_of_range", "outside its scale 1-5"),
    "score below its own scale": ("surveys", {**SURVEY, "score": 0}, "out_of_range", "outside its scale 1-5"),
    "NPS on a 1-5 scale": ("surveys", {**SURVEY, "survey_type": "nps"}, "invalid", "NPS"),
    "unknown survey type": ("surveys", {**SURVEY, "survey_type": "ces2"}, "invalid", "survey_type"),
}


@pytest.mark.parametrize("case", list(SCHEMA_CASES))
def test_schema_failures_have_their_own_reason_and_name_the_field(case: str) -> None:
    stream, event, expected, named = SCHEMA_CASES[case]
    result = decode(raw(event), stream, MAX)
    assert reason(result) == expected
    assert named in result.error


def test_the_first_error_names_the_reason_and_the_rest_stay_in_the_text() -> None:
    event = {k: v for k, v in ANSWERED.items() if k != "call_id"} | {"wait_seconds": -1, "extra": 1}
    result = decode(raw(event), "calls", MAX)
    assert reason(result) == "missing_field"  # call_id comes before wait_seconds in the model
    assert all(name in result.error for name in ("call_id", "wait_seconds", "extra"))


def test_a_validator_may_name_a_schema_reason_itself() -> None:
    """Models can raise ``PydanticCustomError`` with a reason word; other words stay ``invalid``."""

    class Scored(BaseModel):
        score: int

        @model_validator(mode="after")
        def _check(self) -> "Scored":
            if self.score > 5:
                raise PydanticCustomError("out_of_range", "score {score} is above 5", {"score": self.score})
            if self.score < 0:
                raise PydanticCustomError("negative_score", "score is negative")
            return self

    def classify(score: int) -> str:
        with pytest.raises(ValidationError) as info:
            Scored(score=score)
        return schema_reason(info.value)

    assert (classify(6), classify(-1)) == ("out_of_range", "invalid")


@pytest.mark.parametrize(
    "expected,message",
    [(r, m) for r, messages in BYTE_CASES.items() for m in messages],
)
def test_rejection_reasons_from_bytes(expected: str, message: bytes | None) -> None:
    assert reason(decode(message, "calls", MAX)) == expected


def test_every_decodable_reason_is_covered() -> None:
    """A new reason in decode.py should come with a test here."""
    from_schema = {case[2] for case in SCHEMA_CASES.values()}
    from_check_time = {"future", "late"}  # tested below
    worker_only = {"conflict", "out_of_order", "internal_error"}  # need worker state
    assert set(REASONS) == set(BYTE_CASES) | from_schema | from_check_time | worker_only


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


@pytest.mark.parametrize("version", [b"true", b"false", b"2", b'"1"', b"null", b"1"])
def test_a_whole_envelope_is_taken_only_at_version_1(version: bytes) -> None:
    """The worker's fast path for envelopes must refuse what ``streams.envelope.unpack``
    refuses (JSON ``true`` equals 1 to Python), so the slow path can name the reason."""
    envelope = b'{"envelope":' + version + b',"events":[' + raw(ANSWERED) + b"]}"
    events = validate_envelope(envelope, "calls")
    assert (events is not None) == (version == b"1")
    if events is not None:
        assert events == [CallAnswered.model_validate(ANSWERED)]
