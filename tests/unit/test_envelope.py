"""The batch-envelope format (streams/envelope.py): pure, so tested without a broker."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.envelope import OVERHEAD, EnvelopeError, is_envelope, pack, unpack, wrap

EVENT = {"type": "call.queued", "event_id": "e1", "occurred_at": "2026-01-01T00:00:00+00:00", "queue": "sales",
         "call_id": "c1"}


def test_wire_format_is_versioned_compact_json() -> None:
    [raw] = pack([EVENT], 10_000)
    assert raw == b'{"envelope":1,"events":[' + orjson.dumps(EVENT) + b"]}"
    assert orjson.loads(raw) == {"envelope": 1, "events": [EVENT]}
    assert unpack(raw) == [EVENT]


def test_pack_accepts_bytes_models_and_plain_values() -> None:
    from streams.events import CallQueued

    model = CallQueued(**EVENT)  # type: ignore[arg-type]
    [raw] = pack([orjson.dumps(EVENT), model, EVENT], 10_000)
    events = unpack(raw)
    assert events is not None and len(events) == 3
    assert events[0] == events[2] == EVENT
    assert events[1]["event_id"] == "e1" and "agent_id" not in events[1]  # None fields are left out


def test_single_events_are_not_envelopes() -> None:
    assert unpack(orjson.dumps(EVENT)) is None
    assert unpack(b"") is None and unpack(None) is None
    assert unpack(b"[1, 2]") is None and unpack(b"{broken") is None
    # an event that merely mentions "envelope" later on is still a single event
    assert unpack(orjson.dumps({**EVENT, "envelope": 1})) is None
    assert is_envelope(b' \n{ "envelope" : 1, "events": []}')


def test_whitespace_and_member_order_after_the_version_are_accepted() -> None:
    raw = b'  {\n "envelope": 1,\n "events": [ {"a": 1} , {"b": 2} ]\n}'
    assert unpack(raw) == [{"a": 1}, {"b": 2}]
    assert unpack(b'{"envelope":1,"events":[]}') == []


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b'{"envelope":2,"events":[]}', "unknown_schema_version"),
        (b'{"envelope":"1","events":[]}', "unknown_schema_version"),
        (b'{"envelope":true,"events":[]}', "unknown_schema_version"),
        (b'{"envelope":1}', "invalid"),
        (b'{"envelope":1,"events":{}}', "invalid"),
        (b'{"envelope":1,"events":[],"extra":0}', "invalid"),
        (b'{"envelope":1,"events":[', "malformed_json"),
        (b'{"envelope":1,"events":[]}\xff', "malformed_json"),
    ],
)
def test_unreadable_envelopes_raise_with_a_dead_letter_reason(raw: bytes, reason: str) -> None:
    from streams.decode import REASONS

    with pytest.raises(EnvelopeError) as info:
        unpack(raw)
    assert info.value.reason == reason and reason in REASONS


def test_pack_respects_max_bytes_and_max_events_in_order() -> None:
    events = [{"i": i, "pad": "x" * (i % 7)} for i in range(200)]
    limit = 400
    chunks = pack(events, limit, max_events=9)
    assert all(len(c) <= limit for c in chunks)
    assert all(len(unpack(c) or []) <= 9 for c in chunks)
    assert [e for c in chunks for e in unpack(c) or []] == events  # nothing lost, order kept


def test_an_event_too_large_for_any_envelope_is_refused() -> None:
    big = {"pad": "x" * 500}
    with pytest.raises(ValueError):
        pack([big], 300)
    with pytest.raises(ValueError):
        pack([], OVERHEAD)  # no room for even one byte of event
    with pytest.raises(ValueError):
        pack([EVENT], 10_000, max_events=0)


def test_empty_input_packs_to_nothing() -> None:
    assert pack([], 1000) == []
    assert wrap([]) == b'{"envelope":1,"events":[]}'


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(st.lists(st.dictionaries(st.text(max_size=10), json_values, max_size=5), max_size=40),
       st.integers(min_value=OVERHEAD + 2, max_value=4000), st.one_of(st.none(), st.integers(1, 50)))
def test_pack_then_unpack_gives_back_every_event_in_order(events: list, max_bytes: int, max_events: int | None) -> None:
    try:
        chunks = pack(events, max_bytes, max_events)
    except ValueError:
        assert any(len(orjson.dumps(e)) + OVERHEAD > max_bytes for e in events)
        return
    assert all(len(c) <= max_bytes for c in chunks)
    assert [e for c in chunks for e in unpack(c) or []] == events
    # as few envelopes as fit: no two neighbours could have been merged
    for a, b in zip(chunks, chunks[1:]):
        merged = len(a) + len(b) - OVERHEAD + 1
        fewer_events = max_events is None or len(unpack(a) or []) + len(unpack(b) or []) <= max_events
        assert merged > max_bytes or not fewer_events
