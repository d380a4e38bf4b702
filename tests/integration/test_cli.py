"""``cxpulse publish`` and ``cxpulse schema`` as a service team would use them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from cxpulse.embedded import Service

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cxpulse", *args], input=stdin, capture_output=True, text=True, timeout=60,
        cwd=ROOT, env={**os.environ, **(env or {})},
    )


def test_schema_writes_one_file_per_event(tmp_path: Path) -> None:
    result = run_cli("schema", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    names = {p.name for p in tmp_path.iterdir()}
    assert {"call.queued.schema.json", "call.completed.schema.json", "survey.response.schema.json",
            "events.schema.json"} <= names
    schema = json.loads((tmp_path / "call.answered.schema.json").read_text())
    assert "wait_seconds" in schema["required"]


async def _consume(bootstrap: str, topic: str, expected: int, events_per: Any = lambda value: 1) -> list[tuple[bytes, dict]]:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    out: list[tuple[bytes, dict]] = []  # type: ignore[type-arg]
    try:
        for _ in range(40):
            for messages in (await consumer.getmany(timeout_ms=250)).values():
                out.extend((m.key, json.loads(m.value)) for m in messages)
            if sum(events_per(value) for _, value in out) >= expected:
                break
    finally:
        await consumer.stop()
    return out


def test_publish_validates_each_line_and_sends_the_good_ones(broker_service: Service) -> None:
    topic = f"cx.calls.{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc).isoformat()
    lines = [
        json.dumps({"event_id": "p1", "type": "call.queued", "occurred_at": now, "queue": "sales", "call_id": "k1"}),
        json.dumps({"event_id": "p2", "type": "call.answered", "occurred_at": now, "queue": "sales", "call_id": "k1"}),
        "",
        json.dumps({"event_id": "p3", "type": "call.abandoned", "occurred_at": now, "queue": "sales",
                    "call_id": "k2", "wait_seconds": 7}),
        "not json at all",
    ]
    env = {"CXPULSE_KAFKA_URL": broker_service.url, "CXPULSE_TOPICS__CALLS": topic}
    result = run_cli("publish", "-", stdin="\n".join(lines) + "\n", env=env)
    assert result.returncode == 1, result.stderr  # some lines were rejected
    assert "published 2 events, rejected 2" in result.stderr
    assert "line 2" in result.stderr and "wait_seconds" in result.stderr
    assert "line 5" in result.stderr and "malformed_json" in result.stderr

    received = asyncio.run(_consume(broker_service.url.removeprefix("kafka://"), topic, expected=2))
    assert sorted((key, value["event_id"]) for key, value in received) == [(b"k1", "p1"), (b"k2", "p3")]


def test_publish_envelope_packs_many_events_per_message(broker_service: Service) -> None:
    topic = f"cx.calls.{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc).isoformat()
    lines = [json.dumps({"event_id": f"v{i}", "type": "call.queued", "occurred_at": now, "queue": "sales",
                         "call_id": f"k{i % 5}"}) for i in range(40)]
    env = {"CXPULSE_KAFKA_URL": broker_service.url, "CXPULSE_TOPICS__CALLS": topic}
    result = run_cli("publish", "--envelope", "--envelope-max-events", "10", "-", stdin="\n".join(lines) + "\n", env=env)
    assert result.returncode == 0, result.stderr
    assert "published 40 events, rejected 0" in result.stderr

    received = asyncio.run(_consume(broker_service.url.removeprefix("kafka://"), topic, expected=40,
                                   events_per=lambda value: len(value["events"])))
    assert all(key is None and value["envelope"] == 1 for key, value in received)
    events = [e for _, value in received for e in value["events"]]
    assert sorted(e["event_id"] for e in events) == sorted(f"v{i}" for i in range(40))
    assert 4 <= len(received) < 40 and all(len(value["events"]) <= 10 for _, value in received)


def test_publish_refuses_an_impossible_envelope_bound() -> None:
    result = run_cli("publish", "--envelope", "--envelope-max-events", "0", "-", stdin="")
    assert result.returncode == 2 and "envelope_max_events" in result.stderr


def test_publish_refuses_a_negative_linger() -> None:
    result = run_cli("publish", "--linger-ms", "-1", "-", stdin="")
    assert result.returncode == 2 and "linger_ms" in result.stderr


def test_publish_help_names_the_publishers_own_defaults() -> None:
    """The CLI passes only the options given, so its help must quote the publisher's values."""
    from streams.publisher import DEFAULT_ENVELOPE_LINGER, DEFAULT_ENVELOPE_MAX_EVENTS, DEFAULT_LINGER_MS

    result = run_cli("publish", "--help")
    text = " ".join(result.stdout.split())
    assert result.returncode == 0
    for name, value in (("DEFAULT_LINGER_MS", DEFAULT_LINGER_MS), ("DEFAULT_ENVELOPE_MAX_EVENTS", DEFAULT_ENVELOPE_MAX_EVENTS),
                        ("DEFAULT_ENVELOPE_LINGER", DEFAULT_ENVELOPE_LINGER)):
        assert f"streams.publisher.{name} = {value}" in text, name
