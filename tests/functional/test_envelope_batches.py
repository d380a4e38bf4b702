"""Batch envelopes end to end in the worker's batch processor (real Redis), and the
publisher's opt-in packing (a recording producer: no broker needed)."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

import orjson
from aiokafka.partitioner import DefaultPartitioner

from cxpulse.embedded import Service
from cxpulse.settings import load_settings
from processors.batch import BatchProcessor, RawMessage
from processors.store import Source, WindowStore, connect
from streams.decode import validate_envelope
from streams.envelope import pack, unpack
from streams.publisher import DEFAULT_LINGER_MS, Publisher


class ListSink:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []

    async def send_all(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        self.records.extend(records)


def call(eid: str, call_id: str, type_: str = "call.queued", **fields: Any) -> dict[str, Any]:
    occurred = (datetime.now(timezone.utc) - timedelta(seconds=30)).isoformat()
    return {"event_id": eid, "type": type_, "occurred_at": occurred, "queue": "sales", "channel": "voice",
            "call_id": call_id, **fields}


async def test_envelope_events_are_checked_folded_and_dead_lettered_one_by_one(store: WindowStore, app_id: str) -> None:
    settings = load_settings(app_id=app_id, batch_max_events=2)  # forces several Lua calls for one envelope
    sink = ListSink()
    processor = BatchProcessor(settings, store, sink)
    good = [call(f"e{i}", f"c{i}") for i in range(4)]
    wrong_stream = {**call("t1", "c9"), "type": "ticket.created"}
    [envelope] = pack([good[0], good[1], wrong_stream, 42, good[2]], 65536)
    batch = [
        RawMessage(orjson.dumps(good[3]), Source("cx.calls", 0, 10), b"c3"),  # a plain message still works
        RawMessage(envelope, Source("cx.calls", 0, 11)),
        RawMessage(b'{"envelope":2,"events":[]}', Source("cx.calls", 0, 12)),  # unreadable: whole message
    ]
    result = await processor.process("calls", batch)
    assert result.new == 4 and result.rejected == {"wrong_topic": 1, "not_object": 1, "unknown_schema_version": 1}
    assert (await store.read("calls", [])).totals["sales|voice"]["offered"] == 4

    records = {(r["source"]["offset"], r["source"].get("index")): r for r in (orjson.loads(v) for _, v in sink.records)}
    assert set(records) == {(11, 2), (11, 3), (12, None)}
    assert records[(11, 2)]["reason"] == "wrong_topic"
    assert orjson.loads(base64.b64decode(records[(11, 2)]["value_base64"])) == wrong_stream  # the event's own bytes
    assert base64.b64decode(records[(11, 3)]["value_base64"]) == b"42"
    assert records[(12, None)]["reason"] == "unknown_schema_version"

    # a replay of the same batch (crash before the commit) changes nothing
    again = await processor.process("calls", batch)
    assert again.new == 0 and again.replayed == 4
    assert len(sink.records) == 3  # each rejection dead-lettered once, per event
    health = await store.health()
    assert health["cx.calls|rejected|wrong_topic"] == 1 and health["cx.calls|processed"] == 4


async def test_an_envelope_valid_whole_dead_letters_a_late_event_with_the_bytes_it_came_in(
    store: WindowStore, app_id: str
) -> None:
    """Such an envelope skips the per-event parse: a dead letter must still carry what
    was sent, not the model re-serialized (which would add the defaulted fields)."""
    settings = load_settings(app_id=app_id)
    sink = ListSink()
    late = {**call("l1", "c8"), "occurred_at": (datetime.now(timezone.utc) - timedelta(days=30)).isoformat()}
    [envelope] = pack([call("v1", "c1"), late, call("v2", "c2")], 65536)
    result = await BatchProcessor(settings, store, sink).process("calls", [RawMessage(envelope, Source("cx.calls", 0, 5))])
    assert result.new == 2 and result.rejected == {"late": 1}
    [(_, value)] = sink.records
    record = orjson.loads(value)
    assert record["source"]["index"] == 1 and orjson.loads(base64.b64decode(record["value_base64"])) == late


async def test_an_envelope_counts_the_same_whether_valid_whole_or_checked_event_by_event(
    app_id: str, redis_service: Service
) -> None:
    """One bad event sends an envelope down the per-event checks; the good ones must
    land exactly as they do when the whole envelope validates at once."""
    events = [call(f"e{i}", f"c{i % 3}", t, **f) for i, (t, f) in enumerate([
        ("call.queued", {}), ("call.answered", {"wait_seconds": 12.0}), ("call.queued", {}),
        ("call.abandoned", {"wait_seconds": 40.0}), ("call.completed", {"talk_seconds": 200.0, "customer_id": "u1",
                                                                          "contact_reason": "billing"}),
    ])]
    totals = []
    for suffix, extra in (("whole", []), ("each", [{"type": "call.queued"}])):
        store = WindowStore(connect(redis_service.url), f"{app_id}{suffix}")
        try:
            [envelope] = pack(events + extra, 65536)
            assert (validate_envelope(envelope, "calls") is None) == bool(extra)  # the path this round takes
            result = await BatchProcessor(load_settings(app_id=f"{app_id}{suffix}"), store, ListSink()).process(
                "calls", [RawMessage(envelope, Source("cx.calls", 0, 1))]
            )
            assert result.new == len(events) and sum(result.rejected.values()) == len(extra)
            totals.append((await store.read("calls", [])).totals)
        finally:
            await store.client.aclose()
    assert totals[0] == totals[1] and totals[0]["sales|voice"]["offered"] == 2


async def test_an_envelope_over_the_message_limit_is_refused_whole(store: WindowStore, app_id: str) -> None:
    settings = load_settings(app_id=app_id, max_message_bytes=1024)
    sink = ListSink()
    [envelope] = pack([call(f"e{i}", f"c{i}") for i in range(10)], 100_000)
    assert len(envelope) > 1024
    result = await BatchProcessor(settings, store, sink).process("calls", [RawMessage(envelope, Source("cx.calls", 1, 5))])
    assert result.new == 0 and result.rejected == {"oversized": 1}


# ---------------------------------------------------------------- the publisher


class RecordingProducer:
    """Enough of AIOKafkaProducer for the publisher: records what it is asked to send."""

    def __init__(self, partitions: int = 4) -> None:
        self.partitions = partitions
        self.sent: list[tuple[str, bytes, bytes | None, int | None]] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    async def send(self, topic: str, value: bytes, key: bytes | None = None, partition: int | None = None) -> "asyncio.Future[None]":
        self.sent.append((topic, value, key, partition))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def _events(n: int) -> list[dict[str, Any]]:
    return [call(f"e{i}", f"call-{i % 13}", "call.queued") for i in range(n)]


async def test_envelopes_hold_one_partition_each_in_publish_order() -> None:
    producer = RecordingProducer()
    settings = load_settings()
    async with Publisher(settings, producer=producer, envelope=True, envelope_max_events=5, envelope_linger=0) as pub:  # type: ignore[arg-type]
        for obj in _events(60):
            await pub.publish_object(obj)
        await pub.flush()
        assert pub.delivered == 60
    partitioner = DefaultPartitioner()
    by_key: dict[str, list[str]] = {}
    for topic, value, key, partition in producer.sent:
        assert topic == settings.topics.calls and key is None and partition is not None
        events = unpack(value)
        assert events is not None and 1 <= len(events) <= 5
        for e in events:  # each event sits where it would have gone alone
            assert partitioner(e["call_id"].encode(), [0, 1, 2, 3], [0, 1, 2, 3]) == partition
            by_key.setdefault(e["call_id"], []).append(e["event_id"])
    for call_id, ids in by_key.items():
        assert ids == sorted(ids, key=lambda eid: int(eid[1:])), call_id  # per contact order kept
    assert sum(len(v) for v in by_key.values()) == 60


async def test_envelopes_respect_the_byte_limit_and_linger() -> None:
    producer = RecordingProducer(partitions=1)
    settings = load_settings(max_message_bytes=2048)
    pub = Publisher(settings, producer=producer, envelope=True, envelope_max_events=1000, envelope_linger=0.05)  # type: ignore[arg-type]
    await pub.start()
    try:
        for obj in _events(30):
            await pub.publish_object(obj)
        assert len(producer.sent) >= 2  # full envelopes went out as they filled up
        for _ in range(250):  # the last, partly filled one is shipped by the linger, with no flush
            if sum(len(unpack(v) or []) for _, v, _, _ in producer.sent) == 30:
                break
            await asyncio.sleep(0.02)
        assert sum(len(unpack(v) or []) for _, v, _, _ in producer.sent) == 30
        assert all(len(value) <= 2048 for _, value, _, _ in producer.sent)
    finally:
        await pub.stop()


def test_plain_publishing_is_unchanged_by_default() -> None:
    async def go() -> list[tuple[str, bytes, bytes | None, int | None]]:
        producer = RecordingProducer()
        async with Publisher(load_settings(), producer=producer) as pub:  # type: ignore[arg-type]
            await pub.publish_object(call("e1", "call-1"))
        return producer.sent

    [(topic, value, key, partition)] = asyncio.run(go())
    assert key == b"call-1" and partition is None and unpack(value) is None


def test_the_producer_holds_batches_for_the_publisher_linger() -> None:
    """Fuller record batches keep the broker's per-batch work down (DEFAULT_LINGER_MS)."""
    async def lingers(**options: Any) -> float:
        return Publisher(load_settings(), **options)._producer._message_accumulator._linger_time  # type: ignore[attr-defined,no-any-return]

    assert asyncio.run(lingers()) == DEFAULT_LINGER_MS / 1000 == 0.05
    assert asyncio.run(lingers(linger_ms=5)) == 0.005


async def test_a_reused_event_id_is_dead_lettered_as_a_conflict_with_the_bytes_it_came_in(store: WindowStore, app_id: str) -> None:
    """The conflict is known only after the script ran: its dead letter must still carry
    the right message's bytes (a plain one, and one event inside an envelope)."""
    settings = load_settings(app_id=app_id)
    sink = ListSink()
    processor = BatchProcessor(settings, store, sink)
    first = call("x1", "c1")
    await processor.process("calls", [RawMessage(orjson.dumps(first), Source("cx.calls", 0, 1))])
    reused_plain = {**first, "call_id": "other"}
    reused_packed = {**first, "call_id": "another"}
    [envelope] = pack([call("x2", "c2"), reused_packed], 65536)
    result = await processor.process(
        "calls",
        [
            RawMessage(orjson.dumps(call("x3", "c3")), Source("cx.calls", 0, 2)),
            RawMessage(orjson.dumps(reused_plain), Source("cx.calls", 0, 3), b"k3"),
            RawMessage(envelope, Source("cx.calls", 0, 4)),
        ],
    )
    assert result.new == 2 and result.rejected == {"conflict": 2}
    records = {(r["source"]["offset"], r["source"].get("index")): r for r in (orjson.loads(v) for _, v in sink.records)}
    assert set(records) == {(3, None), (4, 1)}
    assert all(r["reason"] == "conflict" for r in records.values())
    assert orjson.loads(base64.b64decode(records[(3, None)]["value_base64"])) == reused_plain
    assert orjson.loads(base64.b64decode(records[(4, 1)]["value_base64"])) == reused_packed
