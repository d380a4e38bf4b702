"""Helpers the integration tests share: publish, read a topic back, wait for the pipeline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cxpulse.stack import LocalStack


async def publish_async(stack: LocalStack, events: list[dict[str, Any]], raw: list[bytes] = (), raw_topic: str | None = None) -> None:  # type: ignore[assignment]
    from streams.publisher import Publisher

    async with Publisher(stack.settings) as publisher:
        for obj in events:
            await publisher.publish_object(obj)
        await publisher.flush()
    if raw:
        # invalid input cannot go through the validating publisher: send it raw
        producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap)
        await producer.start()
        try:
            for value in raw:
                await producer.send_and_wait(raw_topic or stack.settings.topics.calls, value, key=b"bad")
        finally:
            await producer.stop()


def publish(stack: LocalStack, events: list[dict[str, Any]], raw: list[bytes] = (), raw_topic: str | None = None) -> None:  # type: ignore[assignment]
    asyncio.run(publish_async(stack, events, raw, raw_topic))


async def _consume(bootstrap: str, topic: str, expected: int, timeout: float) -> list[tuple[bytes | None, dict[str, Any]]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    records: list[tuple[bytes | None, dict[str, Any]]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                records.extend((m.key, orjson.loads(m.value)) for m in messages)
    finally:
        await consumer.stop()
    return records


def consume(stack: LocalStack, topic: str, expected: int, timeout: float = 20.0) -> list[tuple[bytes | None, dict[str, Any]]]:
    """Everything on ``topic`` from the start, once ``expected`` records arrived (or the timeout)."""
    return asyncio.run(_consume(stack.settings.kafka_bootstrap, topic, expected, timeout))


def wait_for(stack: LocalStack, predicate: Any, what: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll /api/kpis until ``predicate(snapshot)`` holds; returns that snapshot."""
    deadline = time.monotonic() + timeout
    while True:
        snapshot = stack.get_json("/api/kpis")
        if predicate(snapshot):
            return snapshot
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {snapshot['pipeline']}")
        time.sleep(0.2)


def processed(snapshot: dict[str, Any], topic: str) -> float:
    return float(snapshot["pipeline"]["topics"][topic]["processed"])


def samples(metrics_text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics_text)
        for s in family.samples
    }


def labels(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs.items()))
