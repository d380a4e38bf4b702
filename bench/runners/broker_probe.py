"""The broker alone under the freshness step's traffic: does its cost stay flat?

Why: in the freshness step the Tansu broker's CPU grows through a run at a steady
rate, and every 10 s slice's p99 with it. This runner takes cxpulse out of the
picture: it publishes at a steady rate with aiokafka (as ``paced_producer`` does,
with the given ``linger_ms``) to the given topics, while a plain aiokafka consumer
(manual assignment, ``fetch_max_wait_ms`` as the worker's) reads everything back,
and samples the broker's CPU every ``sample_s`` seconds. Run with the publisher's
default linger and a longer one, it tells whether the broker's cost follows the
records or the record batches it stores.

Spec: ``{"bootstrap", "topics", "partitions", "rate", "seconds", "linger_ms",
"fetch_max_wait_ms", "broker_pid", "sample_s", "value_bytes"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from bench.runners import emit, spec_from_argv

TICK = 0.01


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    import psutil
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    broker = psutil.Process(int(spec["broker_pid"]))
    topics: list[str] = spec["topics"]
    partitions = int(spec["partitions"])
    places = [(t, p) for t in topics for p in range(partitions)]
    rate, seconds, sample_s = float(spec["rate"]), float(spec["seconds"]), float(spec["sample_s"])
    value = b"x" * int(spec["value_bytes"])
    producer = AIOKafkaProducer(bootstrap_servers=spec["bootstrap"], linger_ms=int(spec["linger_ms"]),
                                enable_idempotence=False, acks=1)
    consumer = AIOKafkaConsumer(bootstrap_servers=spec["bootstrap"], group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=int(spec["fetch_max_wait_ms"]))
    await producer.start()
    await consumer.start()
    consumed = 0

    async def drain() -> None:
        nonlocal consumed
        while True:
            got = await consumer.getmany(timeout_ms=100)
            consumed += sum(len(v) for v in got.values())

    cores: list[float] = []
    try:
        consumer.assign([TopicPartition(t, p) for t, p in places])
        reader = asyncio.ensure_future(drain())
        start = time.perf_counter()
        cpu0, at0 = sum(broker.cpu_times()[:2]), start
        sent, tick = 0, 0
        futures: list[asyncio.Future[Any]] = []
        while time.perf_counter() - start < seconds:
            tick += 1
            delay = start + tick * TICK - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            due = int(rate * tick * TICK)
            while sent < due:
                topic, partition = places[sent % len(places)]
                futures.append(await producer.send(topic, value, partition=partition))
                sent += 1
            now = time.perf_counter()
            if now - at0 >= sample_s:
                cpu = sum(broker.cpu_times()[:2])
                cores.append(round((cpu - cpu0) / (now - at0), 3))
                cpu0, at0 = cpu, now
        await asyncio.gather(*futures)
        deadline = time.perf_counter() + 30
        while consumed < sent and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    finally:
        await consumer.stop()
        await producer.stop()
    return {"linger_ms": spec["linger_ms"], "records": sent, "consumed": consumed, "rate": rate,
            "broker_cores_by_sample": cores, "sample_s": sample_s}


def main() -> None:
    emit(asyncio.run(run(spec_from_argv())))


if __name__ == "__main__":
    main()
