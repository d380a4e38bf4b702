"""processors/message_batch.py with the fast consumer: runs of a batch topic's records
become one carrier each, plain topics stay per message, and offsets are committed only
as far as every message of a run has been acked (holes and gaps included)."""

from __future__ import annotations

import asyncio
import uuid
from collections import namedtuple
from typing import Any

import faust

from processors.fast_consumer import FastDrainConsumer, install
from processors.message_batch import MessageBatch, is_batch

Record = namedtuple(
    "Record",
    "topic partition offset timestamp timestamp_type headers key value checksum serialized_key_size serialized_value_size",
)


def _record(topic: str, partition: int, offset: int) -> Record:
    value = f"v{offset}".encode()
    return Record(topic, partition, offset, 1_700_000_000_000, 0, [], b"k", value, None, 1, len(value))


def _consumer(batch_max_messages: int = 3) -> tuple[FastDrainConsumer, Any]:
    app = faust.App(f"t{uuid.uuid4().hex[:6]}", broker="kafka://127.0.0.1:1")
    assert install(app, batch_topics=frozenset({"runs"}), batch_max_messages=batch_max_messages)
    consumer = app.consumer
    assert isinstance(consumer, FastDrainConsumer)
    app.topics._acking_topics.update({"runs", "plain"})  # what an agent's subscription does
    consumer.highwater = lambda tp: 0  # type: ignore[method-assign]  # never connected
    return consumer, app


async def _fetched(consumer: FastDrainConsumer, records: dict[Any, list[Record]]) -> list[tuple[Any, Any]]:
    async def wait_next_records(timeout: float) -> tuple[dict[Any, list[Record]], None]:
        return records, None

    consumer._wait_next_records = wait_next_records  # type: ignore[method-assign]
    return [item async for item in consumer.getmany(timeout=0.1)]


async def test_a_batch_topic_comes_in_runs_of_at_most_the_limit_and_a_plain_one_per_message() -> None:
    consumer, _ = _consumer(batch_max_messages=3)
    runs0, runs1 = consumer._new_topicpartition("runs", 0), consumer._new_topicpartition("runs", 1)
    plain = consumer._new_topicpartition("plain", 0)
    got = await _fetched(
        consumer,
        {
            runs0: [_record("runs", 0, o) for o in range(10, 17)],
            plain: [_record("plain", 0, o) for o in range(2)],
            runs1: [_record("runs", 1, 5)],
        },
    )
    carriers = [(tp.partition, [m.offset for m in msg.messages]) for tp, msg in got if is_batch(msg)]
    assert carriers == [(0, [10, 11, 12]), (0, [13, 14, 15]), (0, [16]), (1, [5])]
    singles = [(tp.topic, msg.offset) for tp, msg in got if not is_batch(msg)]
    assert singles == [("plain", 0), ("plain", 1)]
    first = got[0][1]
    assert (first.offset, first.first_offset, first.value) == (12, 10, first.messages)
    assert [m.value for m in first.messages] == [b"v10", b"v11", b"v12"]
    assert first.holes() == []


async def test_without_batch_topics_getmany_is_faust_s_own() -> None:
    app = faust.App(f"t{uuid.uuid4().hex[:6]}", broker="kafka://127.0.0.1:1")
    assert install(app)
    consumer = app.consumer
    tp = consumer._new_topicpartition("runs", 0)
    consumer.highwater = lambda tp: 0  # type: ignore[method-assign]
    got = await _fetched(consumer, {tp: [_record("runs", 0, o) for o in range(3)]})
    assert [m.offset for _, m in got] == [0, 1, 2] and not any(is_batch(m) for _, m in got)


class _Fetcher:
    def __init__(self) -> None:
        self._stopped = asyncio.Event()


async def _drain(
    consumer: FastDrainConsumer, batches: list[MessageBatch], tp: Any, expect: int | None = None
) -> list[MessageBatch]:
    """Run the copied drain loop over ``batches`` once; returns what reached the conductor
    once ``expect`` (default: all) have, and the loop has been stopped."""
    delivered: list[MessageBatch] = []
    served = {"done": False}

    async def getmany(timeout: float) -> Any:
        if served["done"]:
            await asyncio.sleep(0.01)
            return
        served["done"] = True
        for batch in batches:
            yield tp, batch

    async def callback(message: MessageBatch) -> None:
        delivered.append(message)

    consumer.callback = callback  # type: ignore[assignment]
    consumer.getmany = getmany  # type: ignore[method-assign]
    fetcher = _Fetcher()
    task = asyncio.ensure_future(consumer._drain_messages(fetcher))
    while len(delivered) < (len(batches) if expect is None else expect) or not served["done"]:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)  # anything that would still be delivered, is
    fetcher._stopped.set()
    await asyncio.wait_for(task, 5)
    return delivered


def _run(consumer: FastDrainConsumer, tp: Any, offsets: list[int]) -> MessageBatch:
    messages = [consumer._to_message(tp, _record("runs", 0, o)) for o in offsets]
    return MessageBatch.of(tp, messages, consumer.app.consumer_generation_id)


def _ack_all(consumer: FastDrainConsumer, batch: MessageBatch) -> None:
    """What the worker's agent and the stream do once a run is stored."""
    consumer.ack_run(batch)
    consumer.ack(batch)


async def test_a_stored_run_commits_past_its_last_message_holes_and_the_gap_before_it() -> None:
    consumer, _ = _consumer()
    tp = consumer._new_topicpartition("runs", 0)
    first = _run(consumer, tp, [0, 1, 2])
    # offsets 3-4 never arrive (compacted or control records), 7 neither
    second = _run(consumer, tp, [5, 6, 8])
    assert second.holes() == [(7, 7)]
    delivered = await _drain(consumer, [first, second], tp)
    assert delivered == [first, second]
    assert consumer._read_offset[tp] == 8
    _ack_all(consumer, first)
    _ack_all(consumer, second)
    assert consumer._new_offset(tp) == 9


async def test_a_run_that_was_not_stored_holds_the_commit_at_its_first_message() -> None:
    consumer, _ = _consumer()
    tp = consumer._new_topicpartition("runs", 0)
    first, failed, later = _run(consumer, tp, [0, 1, 2]), _run(consumer, tp, [3, 4, 5]), _run(consumer, tp, [6, 7])
    await _drain(consumer, [first, failed, later], tp)
    _ack_all(consumer, first)
    failed.acked = True  # the worker's agent on failure: never recorded as done
    _ack_all(consumer, later)
    assert consumer._new_offset(tp) == 3  # replayed from the failed run's first message


async def test_a_run_already_read_is_dropped_like_a_message_already_read() -> None:
    consumer, _ = _consumer()
    tp = consumer._new_topicpartition("runs", 0)
    consumer._read_offset[tp] = 10
    stale, fresh = _run(consumer, tp, [4, 5]), _run(consumer, tp, [11, 12])
    delivered = await _drain(consumer, [stale, fresh], tp, expect=1)
    assert delivered == [fresh]


async def test_ack_run_keeps_the_same_books_as_acking_each_message() -> None:
    """ack_run is Consumer.ack once per run for what is per run: after the same runs,
    committed offset and partly acked state, both consumers must agree on everything
    the commit and a rebalance read (acked flags, acked list and index, the count)."""
    books = []
    for bulk in (False, True):
        consumer, _ = _consumer()
        tp = consumer._new_topicpartition("runs", 0)
        consumer._committed_offset[tp] = 3
        runs = [_run(consumer, tp, [0, 1, 2]), _run(consumer, tp, [3, 4, 6]), _run(consumer, tp, [7, 8])]
        runs[1].messages[1].acked = True  # already acked (e.g. by a replayed run): not counted again
        consumer._acked_index[tp].add(8)  # an offset already recorded
        consumer._acked[tp].append(8)
        recorded = []
        for run in runs:
            if bulk:
                recorded.append(consumer.ack_run(run))
            else:
                recorded.append(sum(consumer.ack(m) for m in run.messages))
        books.append(
            (
                recorded,
                [m.acked for run in runs for m in run.messages],
                list(consumer._acked[tp]),
                sorted(consumer._acked_index[tp]),
                consumer._n_acked,
            )
        )
    assert books[0] == books[1]
    assert books[1][0] == [0, 2, 1]  # below the committed offset, already acked, already recorded
    consumer, _ = _consumer()
    tp = consumer._new_topicpartition("runs", 0)
    app_topics_off = _run(consumer, tp, [0])
    consumer.app.topics._acking_topics.discard("runs")
    assert consumer.ack_run(app_topics_off) == 0 and app_topics_off.messages[0].acked
