"""No input stops the pipeline: arbitrary bytes and arbitrary JSON, fed to the decoder and
to the batch processor on a real Redis, never raise, and every message ends up either
counted (new, duplicate or replay) or dead-lettered with a reason, and the per-reason
rejection counters in Redis (what the exporter serves) match the dead letters sent."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxpulse.embedded import Service
from cxpulse.settings import load_settings
from processors.batch import BatchProcessor, RawMessage
from processors.store import Source, WindowStore, connect
from streams.decode import REASONS, Rejection, decode, decode_stepwise

STREAMS = ("calls", "tickets", "carts", "surveys")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)

TEMPLATES: dict[str, dict[str, Any]] = {
    "calls": {"type": "call.answered", "call_id": "c", "queue": "q", "wait_seconds": 3.0},
    "tickets": {"type": "ticket.resolved", "ticket_id": "t", "created_at": None, "contact_count": 1},
    "carts": {"type": "checkout.completed", "cart_id": "k", "amount": 10.0, "currency": "EUR"},
    "surveys": {"type": "survey.response", "survey_id": "s", "survey_type": "nps", "score": 7},
}


@st.composite
def near_valid(draw: st.DrawFn, stream: str) -> bytes:
    """A valid event with one field replaced, removed or added: the interesting edge."""
    now = datetime.now(timezone.utc)
    obj = dict(TEMPLATES[stream], event_id=draw(st.sampled_from(["e1", "e2", str(uuid.uuid4())])))
    obj["occurred_at"] = (now - timedelta(seconds=draw(st.integers(-600, 7200)))).isoformat()
    if "created_at" in obj:
        obj["created_at"] = (now - timedelta(hours=1)).isoformat()
    action = draw(st.sampled_from(["keep", "drop", "replace", "add"]))
    key = draw(st.sampled_from(sorted(obj)))
    if action == "drop":
        obj.pop(key)
    elif action == "replace":
        obj[key] = draw(json_values)
    elif action == "add":
        obj[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)


messages = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"123456789012345678901234567890", b"[1e400]", b"{\"type\": \"call.queued\", \"score\": 1e999}"]),
    json_values.map(lambda v: orjson.dumps(v)),
    st.sampled_from(STREAMS).flatmap(near_valid),
)


@given(raw=st.binary(max_size=300) | json_values.map(orjson.dumps), stream=st.sampled_from(STREAMS))
@settings(max_examples=300, deadline=None)
def test_decoder_never_raises(raw: bytes, stream: str) -> None:
    result = decode(raw, stream, 65536)
    if isinstance(result, Rejection):
        assert result.reason in REASONS and result.error


@given(raw=messages, stream=st.sampled_from(STREAMS))
@settings(max_examples=1500, deadline=None)
def test_the_fast_decoder_accepts_exactly_what_the_stepwise_checks_accept(raw: bytes, stream: str) -> None:
    """``decode`` validates straight from the bytes first: it must never take a message
    the checks refuse (a JSON ``true`` as version, say), nor turn one into another event."""
    fast, stepwise = decode(raw, stream, 65536), decode_stepwise(raw, stream, 65536)
    assert type(fast) is type(stepwise)
    assert fast == stepwise


@pytest.mark.parametrize("version", [b"true", b"false", b"1.0", b"1", b"2", b'"1"', b"null"])
def test_the_fast_decoder_treats_every_version_as_the_checks_do(version: bytes) -> None:
    raw = orjson.dumps({**TEMPLATES["calls"], "event_id": "e", "occurred_at": datetime.now(timezone.utc).isoformat()})
    raw = raw[:-1] + b',"schema_version":' + version + b"}"
    assert decode(raw, "calls", 65536) == decode_stepwise(raw, "calls", 65536)


class CountingSink:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def send_all(self, records: Any) -> None:
        self.records.extend(orjson.loads(value) for _, value in records)


def test_batch_processor_accounts_for_every_message(redis_service: Service) -> None:
    app_id = f"fuzz{uuid.uuid4().hex[:8]}"
    cfg = load_settings(app_id=app_id, redis_url=redis_service.url)

    @given(batch=st.lists(messages, min_size=1, max_size=20), stream=st.sampled_from(STREAMS))
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def run(batch: list[bytes], stream: str) -> None:
        async def go() -> None:
            store = WindowStore(connect(redis_service.url), app_id)
            sink = CountingSink()
            try:
                offset = int(uuid.uuid4().int % 10**9)
                raw = [RawMessage(m, Source(f"cx.{stream}", 0, offset + i)) for i, m in enumerate(batch)]
                before = await store.health()
                result = await BatchProcessor(cfg, store, sink, followups=CountingSink()).process(stream, raw)
                after = await store.health()
            finally:
                await store.client.aclose()
            accounted = result.new + result.duplicate + result.replayed + sum(result.rejected.values())
            assert accounted == len(batch)
            assert len(sink.records) == sum(result.rejected.values())
            assert all(r["reason"] in REASONS for r in sink.records)
            # the per-reason counters the exporter serves moved by exactly the dead letters sent
            prefix = f"cx.{stream}|rejected|"
            counted = {k.removeprefix(prefix): after[k] - before.get(k, 0.0) for k in after if k.startswith(prefix)}
            assert {k: v for k, v in counted.items() if v} == Counter(r["reason"] for r in sink.records)
            assert "internal_error" not in result.rejected, sink.records

        asyncio.run(go())

    run()
