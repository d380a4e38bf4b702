"""The benchmark workload: one realistic event mix, produced once per topic layout.

Events come from ``streams.simulator.TrafficModel`` (calls with their queue, answer,
abandon and completion events, tickets, carts, surveys), stamped within the last
minutes so the worker accepts them as on time. They are encoded exactly as the
publisher encodes them and keyed by contact id, so they spread over every
partition. Layouts:

``single``
    one event per Kafka message, the four stream topics.
``envelope``
    the same events packed into ``streams.envelope`` batches of up to
    ``envelope_size`` events, grouped by partition (see ``streams.envelope``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

from streams.envelope import pack
from streams.events import partition_key, stream_of
from streams.simulator import STREAMS, TrafficModel

RETENTION = {"retention.ms": "604800000", "retention.bytes": "-1"}


@dataclass
class Workload:
    """Encoded events per stream, in publish order: ``(key, value)``."""

    events: dict[str, list[tuple[bytes, bytes]]]
    generated_in: float
    span_seconds: float

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.events.values())

    @property
    def counts(self) -> dict[str, int]:
        return {stream: len(v) for stream, v in self.events.items()}

    @property
    def mean_bytes(self) -> float:
        sizes = [len(v) for items in self.events.values() for _, v in items]
        return sum(sizes) / max(1, len(sizes))


def generate(n: int, seed: int = 7, span_seconds: float | None = None, now: datetime | None = None) -> Workload:
    """``n`` events of the realistic mix, with event times in ``[now - span, now]``."""
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    # ~6.4 events per new call (calls + their surveys, plus tickets and carts at fixed
    # ratios): size the arrival rate so the span yields a bit more than n.
    span = span_seconds or min(900.0, max(60.0, n / 400.0))
    rate = max(0.5, n / span / 5.0)
    model = TrafficModel(calls_per_second=rate, seed=seed, customers=max(5000, n // 4))
    events: dict[str, list[tuple[bytes, bytes]]] = {s: [] for s in STREAMS}
    taken = 0
    start = now - timedelta(seconds=span)
    for event in model.iter_events(start, now, tick=5.0):
        stream = stream_of(event.type)  # type: ignore[attr-defined]
        assert stream is not None
        events[stream].append((partition_key(event).encode(), event.model_dump_json(exclude_none=True).encode()))
        taken += 1
        if taken >= n:
            break
    if taken < n:  # the model ran short of the estimate: stretch and retry
        return generate(n, seed, span * 1.5 * n / max(taken, 1), now)
    return Workload(events, time.perf_counter() - started, span)


@dataclass
class Layout:
    name: str
    topics: dict[str, str]
    messages: dict[str, int] = field(default_factory=dict)
    produce_seconds: float = 0.0
    envelope_size: int = 0

    @property
    def total_messages(self) -> int:
        return sum(self.messages.values())


async def create_topics(bootstrap: str, topics: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-admin")
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, num_partitions=partitions, replication_factor=1, topic_configs=dict(RETENTION)) for t in topics],
            timeout_ms=15000,
        )
    finally:
        await admin.close()


async def produce(
    bootstrap: str,
    workload: Workload,
    layout: Layout,
    partitions: int,
    envelope_size: int = 0,
    envelope_max_bytes: int = 1_000_000,
    progress: Callable[[str], None] = lambda m: None,
) -> Layout:
    """Create the layout's topics and produce the whole workload into them."""
    await create_topics(bootstrap, list(layout.topics.values()), partitions)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="bench-producer",
        linger_ms=20,
        max_batch_size=1 << 20,
        max_request_size=4 << 20,
        enable_idempotence=False,
        acks=1,
    )
    await producer.start()
    started = time.perf_counter()
    partitioner = DefaultPartitioner()
    all_partitions = list(range(partitions))
    try:
        for stream, items in workload.events.items():
            topic = layout.topics[stream]
            futures = []
            sent = 0
            if envelope_size:
                by_partition: dict[int, list[bytes]] = {}
                for key, value in items:
                    p = partitioner(key, all_partitions, all_partitions)
                    by_partition.setdefault(p, []).append(value)
                for p, values in by_partition.items():
                    for envelope in pack(values, envelope_max_bytes, envelope_size):
                        futures.append(await producer.send(topic, envelope, partition=p))
                        sent += 1
            else:
                for key, value in items:
                    futures.append(await producer.send(topic, value, key=key))
                    sent += 1
                    if len(futures) >= 20000:
                        await asyncio.gather(*futures)
                        futures.clear()
            await asyncio.gather(*futures)
            layout.messages[stream] = sent
            progress(f"  {topic}: {len(items):,} events in {sent:,} messages")
        await producer.flush()
    finally:
        await producer.stop()
    layout.produce_seconds = time.perf_counter() - started
    layout.envelope_size = envelope_size
    return layout
