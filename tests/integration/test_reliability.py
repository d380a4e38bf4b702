"""Drills on the real broker and Redis: crash, rebalance, Redis restart, broker outage and
graceful stop, each checked against an independent recomputation from the raw events.

Each drill appends its figures to tests/artifacts/reliability.jsonl; docs/reliability.md
is written from those figures.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from cxpulse.settings import load_settings
from cxpulse.stack import LocalStack
from processors.store import WindowStore, connect
from streams.simulator import TrafficModel
from tests.integration.reference import call_totals, pipeline_counts, stream_counts
from tests.integration.support import publish, samples

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
STREAMS = ("calls", "surveys", "tickets", "carts")


def workload(seed: int, minutes: int = 12, rate: float = 4.0) -> list[dict[str, Any]]:
    """A realistic mix of all four streams, event times over the last ``minutes``."""
    end = datetime.now(timezone.utc)
    model = TrafficModel(calls_per_second=rate, seed=seed)
    events = model.events_between(end - timedelta(minutes=minutes), end)
    return [e.model_dump(mode="json", exclude_none=True) for e in events]


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    settings = load_settings(
        app_id=f"drill-{request.node.name[5:30]}",
        allowed_lateness_seconds=2 * 3600,
        cart_abandon_timeout_seconds=86400,  # keep the cart timer out of the comparison
        batch_max_events=500,
        batch_within_seconds=0.1,
    )
    with LocalStack(settings=settings) as local:
        local.start_infra()
        yield local


async def _read(stack: LocalStack) -> tuple[dict[str, float], dict[str, dict[str, dict[str, float]]]]:
    assert stack.redis is not None
    store = WindowStore(connect(stack.redis.url), stack.settings.app_id)
    try:
        health = await store.health()
        totals = {stream: (await store.read(stream, [])).totals for stream in STREAMS}
    finally:
        await store.client.aclose()
    return health, totals


def health_sum(health: dict[str, float], field: str) -> float:
    return sum(v for k, v in health.items() if k.endswith(f"|{field}"))


def wait_processed(stack: LocalStack, at_least: int, timeout: float = 180.0) -> dict[str, float]:
    from redis.exceptions import ConnectionError as RedisConnectionError

    deadline = time.monotonic() + timeout
    while True:
        try:
            health, _ = asyncio.run(_read(stack))
        except RedisConnectionError:  # Redis restarting or still loading its AOF
            assert time.monotonic() < deadline, "Redis did not come back"
            time.sleep(0.2)
            continue
        done = health_sum(health, "processed")
        if done >= at_least:
            return health
        assert time.monotonic() < deadline, f"only {done} of {at_least} events processed"
        time.sleep(0.1)


def check_exact(stack: LocalStack, events: list[dict[str, Any]], drill: str, **figures: Any) -> None:
    health, totals = asyncio.run(_read(stack))
    expected_calls = call_totals(events)
    assert set(totals["calls"]) == set(expected_calls)
    for seg, fields in expected_calls.items():
        got = {k: v for k, v in totals["calls"][seg].items() if v}
        assert got == pytest.approx(fields, rel=1e-9), seg
    assert pipeline_counts(totals) == pytest.approx(stream_counts(events), rel=1e-9)
    rejected = sum(v for k, v in health.items() if "|rejected|" in k)
    processed = health_sum(health, "processed")
    assert processed == len(events) and rejected == 0
    record = {
        "drill": drill, "sent": len(events), "counted": processed, "dead_lettered": rejected,
        "replayed": health_sum(health, "replayed"), "duplicates": health_sum(health, "duplicate"),
        "lost": len(events) - processed, **figures,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "reliability.jsonl", "a") as out:
        out.write(json.dumps(record) + "\n")


def test_drill_worker_killed_mid_stream_then_restarted(stack: LocalStack) -> None:
    events = workload(seed=11)
    worker = stack.start_worker()
    publish(stack, events)
    wait_processed(stack, len(events) // 3)
    worker.kill()  # SIGKILL: no flush, no commit
    stack.procs.procs.remove(worker)
    stack.start_worker(timeout=60)
    wait_processed(stack, len(events))
    time.sleep(1.0)  # anything still in flight would show as a difference
    check_exact(stack, events, "kill -9 of the worker at ~1/3, restart")


def test_drill_two_workers_one_killed(stack: LocalStack) -> None:
    events = workload(seed=12)
    stack.start_worker()
    second = stack.start_worker(timeout=60)
    publish(stack, events)
    wait_processed(stack, len(events) // 3)
    second.kill()
    stack.procs.procs.remove(second)
    wait_processed(stack, len(events), timeout=240)  # the survivor takes over the partitions
    time.sleep(1.0)
    check_exact(stack, events, "two workers in one group, one killed with -9 at ~1/3")


def test_drill_redis_killed_and_restarted_while_events_flow(stack: LocalStack) -> None:
    events = workload(seed=13)
    worker = stack.start_worker()
    url = stack.start_exporter()
    publish(stack, events)
    wait_processed(stack, len(events) // 4)
    assert stack.redis is not None
    stack.redis.proc.kill()  # SIGKILL: only what Redis acknowledged (fsynced) survives
    # while Redis is away the exporter still answers, and says Redis is down
    time.sleep(1.0)
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        assert response.status == 200
        assert samples(response.read().decode())[("cx_exporter_redis_up", ())] == 0
    stack.procs.procs.remove(stack.redis.proc)
    time.sleep(3.0)
    from cxpulse.embedded import start_redis

    stack.redis = start_redis(stack.procs, stack.workdir, port=stack.redis.port, password=stack.redis_password)
    wait_processed(stack, len(events))
    time.sleep(1.0)
    assert worker.alive(), "the worker must wait for Redis, not die"
    check_exact(stack, events, "Redis killed with -9 at ~1/4, down 4 s, restarted from its AOF")


def test_drill_broker_unreachable_for_ten_seconds(stack: LocalStack) -> None:
    events = workload(seed=14)
    first, second = events[: len(events) // 2], events[len(events) // 2:]
    worker = stack.start_worker()
    url = stack.start_exporter()
    publish(stack, first)
    wait_processed(stack, len(first))

    def metric(name: str) -> float | None:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
            return samples(response.read().decode()).get((name, ()))

    deadline = time.monotonic() + 20
    while metric("cx_pipeline_broker_up") != 1:
        assert time.monotonic() < deadline, "the broker probe never succeeded"
        time.sleep(0.5)
    stack.pause_broker()
    paused_at = time.monotonic()
    try:
        seen_down = None
        while time.monotonic() - paused_at < 25:
            if metric("cx_pipeline_broker_up") == 0:  # the exporter keeps answering throughout
                seen_down = time.monotonic() - paused_at
                break
            time.sleep(0.5)
        assert seen_down is not None, "the outage never showed in cx_pipeline_broker_up"
    finally:
        stack.resume_broker()
    outage = time.monotonic() - paused_at
    publish(stack, second)
    wait_processed(stack, len(events), timeout=240)
    deadline = time.monotonic() + 30
    while metric("cx_pipeline_broker_up") != 1:
        assert time.monotonic() < deadline, "the broker probe did not recover"
        time.sleep(0.5)
    assert worker.alive(), "the worker must ride out a broker outage"
    time.sleep(1.0)
    check_exact(stack, events, f"broker frozen (SIGSTOP) for {outage:.0f} s between two halves",
                outage_seconds=round(outage, 1), reported_down_after_seconds=round(seen_down, 1))


def test_drill_sigterm_finishes_commits_and_exits_zero(stack: LocalStack) -> None:
    events = workload(seed=15)
    worker = stack.start_worker()
    publish(stack, events)
    wait_processed(stack, len(events) // 3)
    worker.signal(signal.SIGTERM)
    code = worker.proc.wait(60)
    assert code == 0, worker.tail()
    stack.procs.procs.remove(worker)
    health_at_stop = wait_processed(stack, 0)
    stack.start_worker(timeout=60)
    wait_processed(stack, len(events))
    time.sleep(1.0)
    health, _ = asyncio.run(_read(stack))
    # everything stored before the stop was committed: the next worker replays nothing
    assert health_sum(health, "replayed") == 0
    check_exact(stack, events, "SIGTERM at ~1/3, restart", exit_code=code,
                processed_before_stop=health_sum(health_at_stop, "processed"))
