"""Baseline: a plain aiokafka consumer, pydantic decode of every event, a dict count.

What a user writes without a framework: ``getmany`` in a loop, each event validated
with the same pydantic ``TypeAdapter`` the worker uses, counted per message key
(per event type for envelopes, whose message has no key). With ``envelope`` true
each message is a ``streams.envelope`` batch: unpacked, every event validated.
No group: partitions are assigned manually, from the beginning.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from bench.runners import Meter, emit, spec_from_argv


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.decode import _ADAPTERS
    from streams.envelope import unpack

    stream_of_topic: dict[str, str] = spec["streams"]  # topic -> stream
    adapters = {topic: _ADAPTERS[stream] for topic, stream in stream_of_topic.items()}
    envelope = bool(spec.get("envelope"))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=spec["bootstrap"],
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=spec.get("max_partition_fetch_bytes", 1 << 20),
        fetch_max_wait_ms=spec.get("fetch_max_wait_ms", 500),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in stream_of_topic for p in range(spec["partitions"])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        meter = Meter(spec["expected"])
        counts: dict[Any, int] = defaultdict(int)
        done = False
        while not done:
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batches.items():
                adapter = adapters[tp.topic]
                validate_json, validate_python = adapter.validate_json, adapter.validate_python
                for msg in messages:
                    if envelope:
                        events = unpack(msg.value) or ()
                        for obj in events:
                            counts[validate_python(obj).type] += 1
                        done = meter.add(len(events))
                    else:
                        validate_json(msg.value)
                        counts[msg.key] += 1
                        done = meter.add()
        return meter.result(keys=len(counts))
    finally:
        await consumer.stop()


def main() -> None:
    emit(asyncio.run(run(spec_from_argv())))


if __name__ == "__main__":
    main()
