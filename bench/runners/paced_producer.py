"""Publish pre-encoded events at a steady rate and record when each slice went out.

Argument: a JSON file ``{"bootstrap", "rate", "linger_ms", "events": [[topic, key, value, partition], ...]}``.
Every 10 ms it sends the events that are due; it writes ``<file>.timeline.json``
next to the spec: ``[[wall time, topic, partition, cumulative events due on that
partition], ...]`` (the time a slice was due, so a slow send counts against
freshness, not for it). Per partition, because a partition is consumed in order: its
processed count reaching a slice's number means exactly that slice is stored.
Its result says how late its ticks started, per 10 s: a late producer means the
machine was full, not only the pipeline.

With ``"envelope": {"size": n, "linger": s}`` it packs events the way
``streams.publisher`` does in envelope mode: per topic and partition (Kafka's default
partitioner on the key), shipped when ``n`` events are in or the oldest has waited
``s`` seconds. The timeline still says when each event was due, so the linger counts
against freshness.

Each event's partition comes in the spec, computed by the harness with the
partitioner ``send()`` would use (Kafka's default: murmur2 of the key), and is passed
to ``send()``. Computed in ``send()``, it was the largest single cost of a send in a
profile: CPU this process took from the two cores the pipeline under test runs on,
while it measured that pipeline.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from bench.runners import emit
from streams.envelope import wrap

TICK = 0.01


async def run(path: Path) -> dict[str, object]:
    from aiokafka import AIOKafkaProducer

    spec = json.loads(path.read_text())
    envelope = spec.get("envelope")
    groups: dict[tuple[str, int], tuple[float, list[bytes]]] = {}  # (topic, partition) -> (opened, values)
    envelopes = 0
    events = [(t, k.encode(), v.encode()) for t, k, v, _p in spec["events"]]
    where_of = [(t, int(p)) for t, _k, _v, p in spec["events"]]
    rate = float(spec["rate"])
    producer = AIOKafkaProducer(bootstrap_servers=spec["bootstrap"], linger_ms=int(spec["linger_ms"]),
                                enable_idempotence=False, acks=1)
    await producer.start()
    timeline: list[tuple[float, str, int, int]] = []
    sent: dict[tuple[str, int], int] = {}
    late_ticks = 0
    late_by: dict[int, float] = {}  # 10 s slice -> the most a tick started late (s)
    try:
        start_wall, start = time.time(), time.perf_counter()
        i = 0
        tick = 0
        # delivery futures, oldest first: settled ones are dropped each tick (raising any
        # error) without waiting, so the pace never stalls on the broker's acks
        futures: deque[asyncio.Future[Any]] = deque()
        while i < len(events):
            tick += 1
            due_at = start + tick * TICK
            delay = due_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late_ticks += 1
                when = int((due_at - start) // 10)
                late_by[when] = max(late_by.get(when, 0.0), -delay)
            due = min(len(events), int(rate * tick * TICK))
            touched: set[tuple[str, int]] = set()
            now = time.perf_counter()
            while i < due:
                topic, key, value = events[i]
                where = where_of[i]
                if envelope:
                    groups.setdefault(where, (now, []))[1].append(value)
                else:
                    futures.append(await producer.send(topic, value, key=key, partition=where[1]))
                sent[where] = sent.get(where, 0) + 1
                touched.add(where)
                i += 1
            if envelope:
                last = i >= len(events)
                for where, (opened, values) in list(groups.items()):
                    if last or len(values) >= envelope["size"] or now - opened >= envelope["linger"]:
                        del groups[where]
                        futures.append(await producer.send(where[0], wrap(values), partition=where[1]))
                        envelopes += 1
            wall = start_wall + tick * TICK
            for where in touched:
                timeline.append((wall, *where, sent[where]))
            while futures and futures[0].done():
                futures.popleft().result()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    path.with_suffix(".timeline.json").write_text(json.dumps(timeline))
    return {"events": len(events), "late_ticks": late_ticks, "ticks": tick, "envelopes": envelopes,
            "max_late_by_10s": [round(late_by.get(k, 0.0), 3) for k in range(int(tick * TICK // 10) + 1)]}


def main() -> None:
    emit(asyncio.run(run(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
