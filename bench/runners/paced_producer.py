"""Publish pre-encoded events at a steady rate and record when each slice went out.

Argument: a JSON file ``{"bootstrap", "rate", "events": [[topic, key, value], ...]}``.
Every 10 ms it sends the events that are due; it writes ``<file>.timeline.json``
next to the spec: ``[[wall time, topic, cumulative events sent to topic], ...]``
(the time a slice was due, so a slow send counts against freshness, not for it).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from bench.runners import emit

TICK = 0.01


async def run(path: Path) -> dict[str, object]:
    from aiokafka import AIOKafkaProducer

    spec = json.loads(path.read_text())
    events = [(t, k.encode(), v.encode()) for t, k, v in spec["events"]]
    rate = float(spec["rate"])
    producer = AIOKafkaProducer(bootstrap_servers=spec["bootstrap"], linger_ms=5, enable_idempotence=False, acks=1)
    await producer.start()
    timeline: list[tuple[float, str, int]] = []
    sent: dict[str, int] = {}
    late_ticks = 0
    try:
        start_wall, start = time.time(), time.perf_counter()
        i = 0
        tick = 0
        futures = []
        while i < len(events):
            tick += 1
            due_at = start + tick * TICK
            delay = due_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late_ticks += 1
            due = min(len(events), int(rate * tick * TICK))
            touched: set[str] = set()
            while i < due:
                topic, key, value = events[i]
                futures.append(await producer.send(topic, value, key=key))
                sent[topic] = sent.get(topic, 0) + 1
                touched.add(topic)
                i += 1
            wall = start_wall + tick * TICK
            for topic in touched:
                timeline.append((wall, topic, sent[topic]))
            if len(futures) > 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    path.with_suffix(".timeline.json").write_text(json.dumps(timeline))
    return {"events": len(events), "late_ticks": late_ticks, "ticks": tick}


def main() -> None:
    emit(asyncio.run(run(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
