"""Batch envelopes: many events in one Kafka message, as a versioned JSON object.

Format, version 1 (UTF-8 JSON, compact)::

    {"envelope":1,"events":[{...event...},{...event...}]}

* ``envelope`` is the format version and must be the object's **first** member, so a
  reader can tell an envelope from a single event by looking at the first bytes only
  (no second parse of every single-event message). An event can never be mistaken
  for an envelope: event models forbid unknown fields, so an object with an
  ``envelope`` member is not a valid event either way.
* ``events`` is a JSON array of event objects, each exactly what would otherwise
  have been one message's value. The reader validates (and dead-letters) each one on
  its own; its position in the array is its ``index`` in the dead-letter record.
* Readers refuse a version they do not know (``unknown_schema_version``) rather than
  guess; version 1 readers accept nothing but ``envelope`` and ``events``.

Ordering: an envelope is delivered as one message, so its events keep their
relative order and all land in the envelope's partition. Whoever packs must only
put together events that would have gone to the same partition (see
``streams.publisher``) or the per-contact ordering guarantee breaks.

This module is pure (bytes in, bytes out) so both the publisher and the worker,
and producers in other languages, can follow it exactly.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

import orjson

VERSION = 1
SUPPORTED_VERSIONS = frozenset({VERSION})

_HEAD = b'{"envelope":1,"events":['
_TAIL = b"]}"
OVERHEAD = len(_HEAD) + len(_TAIL)
"""Bytes an envelope adds around its events (plus one comma between two events)."""

# An envelope starts with its version member; whitespace is allowed as JSON allows it.
_SNIFF = re.compile(rb'\s*\{\s*"envelope"\s*:')
_SNIFF_BYTES = 64


class EnvelopeError(ValueError):
    """An envelope that cannot be read; ``reason`` is a ``streams.decode.REASONS`` word."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason = reason
        self.error = error


def _encoded(event: Any) -> bytes:
    if isinstance(event, (bytes, bytearray, memoryview)):
        return bytes(event)
    if hasattr(event, "model_dump_json"):  # a pydantic event
        return event.model_dump_json(exclude_none=True).encode()
    return orjson.dumps(event)


def wrap(encoded: Sequence[bytes]) -> bytes:
    """One envelope holding already-encoded JSON events, as given (no checks)."""
    return _HEAD + b",".join(encoded) + _TAIL


def pack(events: Iterable[Any], max_bytes: int, max_events: int | None = None) -> list[bytes]:
    """Pack events, in order, into as few envelopes as fit ``max_bytes`` each.

    An event is JSON bytes (used as is), a pydantic model or any value orjson can
    encode. ``max_events`` optionally caps the events per envelope. Raises
    ``ValueError`` when a single event cannot fit in an envelope of ``max_bytes``:
    it would be refused by the reader (``oversized``), so it must not be sent.
    """
    if max_bytes < OVERHEAD + 2:
        raise ValueError(f"max_bytes={max_bytes} is too small for any envelope ({OVERHEAD + 2} bytes minimum)")
    if max_events is not None and max_events < 1:
        raise ValueError("max_events must be >= 1")
    out: list[bytes] = []
    chunk: list[bytes] = []
    size = OVERHEAD
    for event in events:
        raw = _encoded(event)
        if OVERHEAD + len(raw) > max_bytes:
            raise ValueError(f"an event of {len(raw)} bytes does not fit an envelope of max {max_bytes} bytes")
        extra = len(raw) + (1 if chunk else 0)
        if chunk and (size + extra > max_bytes or (max_events is not None and len(chunk) >= max_events)):
            out.append(wrap(chunk))
            chunk, size, extra = [], OVERHEAD, len(raw)
        chunk.append(raw)
        size += extra
    if chunk:
        out.append(wrap(chunk))
    return out


def is_envelope(raw: bytes | None) -> bool:
    """Cheap check on the first bytes: does ``raw`` claim to be an envelope?"""
    return bool(raw) and _SNIFF.match(raw, 0, _SNIFF_BYTES) is not None  # type: ignore[arg-type]


def unpack(raw: bytes | None) -> list[Any] | None:
    """The events of an envelope (parsed JSON values), or None if ``raw`` is not one.

    None means "a single event: decode it as usual" and costs only a look at the
    first bytes. For something that claims to be an envelope but cannot be read,
    raises ``EnvelopeError`` with the reason the whole message is dead-lettered for.
    The events themselves are not validated here: each is checked on its own.
    """
    if not is_envelope(raw):
        return None
    assert raw is not None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError("malformed_json", f"envelope: {exc}") from None
    if not isinstance(obj, dict):  # pragma: no cover - the sniff only matches objects
        raise EnvelopeError("not_object", "envelope is not a JSON object")
    version = obj.get("envelope")
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise EnvelopeError(
            "unknown_schema_version", f"envelope version {version!r}; supported {sorted(SUPPORTED_VERSIONS)}"
        )
    extra = sorted(set(obj) - {"envelope", "events"})
    if extra:
        raise EnvelopeError("invalid", f"envelope has unknown members {extra}")
    events = obj.get("events")
    if not isinstance(events, list):
        raise EnvelopeError("invalid", "envelope member 'events' must be an array")
    return events
