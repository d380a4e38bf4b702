"""Bytes off the wire -> a validated event, or a rejection with a machine-readable reason.

Decoding never raises: whatever arrives on a topic is either an event or a
``Rejection`` that the worker dead-letters and counts by ``reason``. The reasons are
a closed vocabulary so dashboards and alerts can group on them. Schema failures are
split by pydantic's error type (``missing_field``, ``wrong_type``, ...) so that a
producer that forgot a field and one that sends naive timestamps show up as two
different series; ``invalid`` remains for cross-field checks and anything unnamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model, field_validator

from streams.events import EVENT_MODELS, STREAM_EVENT_UNIONS, SUPPORTED_SCHEMA_VERSIONS, not_a_bool, stream_of

REASONS = (
    "empty",
    "oversized",
    "not_utf8",
    "malformed_json",
    "not_object",
    "missing_type",
    "unknown_type",
    "wrong_topic",
    "unknown_schema_version",
    "missing_field",
    "unknown_field",
    "wrong_type",
    "out_of_range",
    "bad_format",
    "naive_timestamp",
    "invalid",
    "future",
    "late",
    "conflict",
    "out_of_order",
    "internal_error",
)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    error: str


# every known event type -> its stream, computed once (checked for every event)
_STREAM_OF_TYPE: dict[str, str | None] = {t: stream_of(t) for t in EVENT_MODELS}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    stream: TypeAdapter(union) for stream, union in STREAM_EVENT_UNIONS.items()
}


# A whole ``streams.envelope`` (version 1) whose every event is valid on its stream.
_ENVELOPE_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    stream: TypeAdapter(
        create_model(
            f"Envelope_{stream}",
            __config__=ConfigDict(extra="forbid"),
            __validators__={"version": field_validator("envelope", mode="before")(not_a_bool)},
            envelope=(Literal[1], ...),
            events=(list[union], ...),  # type: ignore[valid-type]
        )
    )
    for stream, union in STREAM_EVENT_UNIONS.items()
}


def _kinds(reason: str, *error_types: str) -> dict[str, str]:
    return dict.fromkeys(error_types, reason)


# pydantic error type -> reason; types not listed here fall back to ``invalid``.
_ERROR_REASONS: dict[str, str] = {
    **_kinds("missing_field", "missing"),
    **_kinds("unknown_field", "extra_forbidden"),
    **_kinds("wrong_type", "string_type", "int_type", "int_parsing", "int_from_float", "float_type",
             "float_parsing", "bool_type", "bool_parsing", "datetime_type", "datetime_parsing",
             "datetime_from_date_parsing", "datetime_object_invalid", "model_type", "model_attributes_type"),
    **_kinds("out_of_range", "greater_than", "greater_than_equal", "less_than", "less_than_equal",
             "finite_number", "int_parsing_size"),
    **_kinds("bad_format", "string_pattern_mismatch", "string_too_short", "string_too_long"),
    **_kinds("naive_timestamp", "timezone_aware"),
}
_SCHEMA_REASONS = frozenset(_ERROR_REASONS.values())


def schema_reason(exc: ValidationError) -> str:
    """The reason for a failed validation, named after its first error (pydantic lists
    errors in field order, so the choice is stable for a given producer bug).

    A validator may raise ``PydanticCustomError("out_of_range", ...)`` to pick one of
    the schema reasons itself; any other custom or value error is ``invalid``.
    """
    kind = exc.errors(include_url=False)[0]["type"]
    return kind if kind in _SCHEMA_REASONS else _ERROR_REASONS.get(kind, "invalid")


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"][1:] or err["loc"]) or "event"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def parse(raw: bytes | None, max_bytes: int) -> Any:
    """The byte-level checks, shared by the worker and the publisher: JSON value or Rejection."""
    if not raw:
        return Rejection("empty", "message has no value")
    if len(raw) > max_bytes:
        return Rejection("oversized", f"{len(raw)} bytes > limit {max_bytes}")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection("not_utf8", str(exc))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejection("malformed_json", str(exc))


def decode(raw: bytes | None, stream: str, max_bytes: int) -> BaseModel | Rejection:
    """Validate one message from ``stream``'s topic.

    Almost every message is valid, and pydantic validates straight from the bytes in
    about half the time of a parse followed by a validation of the parsed value. So
    that comes first; only a message it refuses goes through the checks one by one
    (``decode_stepwise``), which name the reason. The two accept exactly the same
    messages: tests/functional/test_fuzz.py holds them to it.
    """
    if raw and len(raw) <= max_bytes:
        try:
            return _ADAPTERS[stream].validate_json(raw)  # type: ignore[no-any-return]
        except ValidationError:
            pass
    return decode_stepwise(raw, stream, max_bytes)


def validate_envelope(raw: bytes, stream: str) -> list[BaseModel] | None:
    """Every event of an envelope (``streams.envelope``), validated, or None.

    Straight from the bytes, as in ``decode``: about half the time of parsing the
    envelope and validating each parsed event. None when anything in it is refused;
    the caller then unpacks it and checks each event on its own, so each refusal gets
    its reason and only the bad events are dead-lettered. The caller checks the size.
    """
    try:
        return _ENVELOPE_ADAPTERS[stream].validate_json(raw).events  # type: ignore[no-any-return]
    except ValidationError:
        return None


def decode_stepwise(raw: bytes | None, stream: str, max_bytes: int) -> BaseModel | Rejection:
    """``decode`` one check at a time, so a refusal says which check failed."""
    obj = parse(raw, max_bytes)
    return obj if isinstance(obj, Rejection) else validate_object(obj, stream)


def validate_object(obj: Any, stream: str) -> BaseModel | Rejection:
    if not isinstance(obj, dict):
        return Rejection("not_object", f"expected a JSON object, got {type(obj).__name__}")
    event_type = obj.get("type")
    if not isinstance(event_type, str) or not event_type:
        return Rejection("missing_type", "field 'type' is missing or not a string")
    if event_type not in _STREAM_OF_TYPE:
        return Rejection("unknown_type", f"unknown event type {event_type!r}")
    if _STREAM_OF_TYPE[event_type] != stream:
        return Rejection("wrong_topic", f"{event_type!r} does not belong on the {stream} stream")
    version = obj.get("schema_version", 1)
    if version not in SUPPORTED_SCHEMA_VERSIONS or isinstance(version, bool):
        supported = sorted(SUPPORTED_SCHEMA_VERSIONS)
        return Rejection("unknown_schema_version", f"schema_version {version!r}; supported {supported}")
    try:
        return _ADAPTERS[stream].validate_python(obj)
    except ValidationError as exc:
        return Rejection(schema_reason(exc), _describe(exc))


def check_time(event: BaseModel, now: datetime, lateness_s: float, skew_s: float) -> Rejection | None:
    """Event-time guard: too far in the future (clock skew) or later than allowed."""
    occurred: datetime = getattr(event, "occurred_at")
    age = (now - occurred).total_seconds()
    if age < -skew_s:
        return Rejection("future", f"occurred_at is {-age:.0f}s ahead of the worker clock (skew limit {skew_s:.0f}s)")
    if age > lateness_s:
        return Rejection("late", f"occurred_at is {age:.0f}s old (allowed lateness {lateness_s:.0f}s)")
    return None
