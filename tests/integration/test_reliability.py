"""Drills on the real broker and Redis: crash, rebalance, Redis restart, broker outage and
graceful stop, each checked against an independent recomputation from the raw events:
Redis's totals, and every per-segment figure ``/api/kpis`` serves that does not depend on
the clock (all-time totals of the four streams, calls waiting, tickets and carts open).

Each drill appends its figures to tests/artifacts/reliability.jsonl; docs/reliability.md
is written from those figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import signal
import threading
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
from tests.integration.reference import api_figures, call_totals, figures, pipeline_counts, stream_counts
from tests.integration.support import publish, samples

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
STREAMS = ("calls", "surveys", "tickets", "carts")


@functools.lru_cache(maxsize=2)
def workload(seed: int, minutes: int = 12, rate: float = 4.0) -> list[dict[str, Any]]:
    """A realistic mix of all four streams, event times over the last ``minutes``
    (cached: a drill that runs one workload twice sends the very same events; read-only)."""
    end = datetime.now(timezone.utc)
    model = TrafficModel(calls_per_second=rate, seed=seed)
    events = model.events_between(end - timedelta(minutes=minutes), end)
    return [e.model_dump(mode="json", exclude_none=True) for e in events]


def drill_stack(app_id: str) -> LocalStack:
    settings = load_settings(
        app_id=app_id,
        allowed_lateness_seconds=2 * 3600,
        cart_abandon_timeout_seconds=86400,  # keep the cart timer out of the comparison
        batch_max_events=500,
        batch_within_seconds=0.1,
    )
    return LocalStack(settings=settings)


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    with drill_stack(f"drill-{request.node.name[5:30]}") as local:
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


@contextlib.contextmanager
def publishing(stack: LocalStack, events: list[dict[str, Any]]) -> Iterator[None]:
    """Publish ``events`` in the background while the body runs, so a fault lands
    mid-stream. Published first, the workers kept pace with the publisher and had
    stored every event by the time a drill struck (once the fetch wait went from 100
    to 30 ms), leaving it nothing to prove. Waits for the publisher on the way out."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            publish(stack, events)
        except BaseException as exc:  # surfaced below, in the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run, name="drill-publisher", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=120)
    assert not thread.is_alive(), "the publisher did not finish within 120 s"
    if failed:
        raise failed[0]


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


def served_figures(stack: LocalStack, events: list[dict[str, Any]], timeout: float = 30.0) -> dict[str, Any]:
    """``api_figures`` of the first ``/api/kpis`` snapshot built after every event was stored
    (the exporter serves a cached snapshot; an older one would show fewer events)."""
    if stack.exporter_url is None:
        stack.start_exporter()
    deadline = time.monotonic() + timeout
    while True:
        snapshot = stack.get_json("/api/kpis")
        topics = snapshot["pipeline"]["topics"].values()
        if sum(t["processed"] for t in topics) >= len(events):
            return api_figures(snapshot)
        assert time.monotonic() < deadline, "/api/kpis never showed every event"
        time.sleep(0.2)


def assert_same_figures(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Stream by stream, segment by segment, figure by figure (floats: sums in another order)."""
    for stream in expected:
        assert set(got[stream]) == set(expected[stream]), stream
        for seg, fields in expected[stream].items():
            assert got[stream][seg] == pytest.approx(fields, rel=1e-9), f"{stream} {seg}"


def check_exact(stack: LocalStack, events: list[dict[str, Any]], drill: str, **figures_: Any) -> None:
    """Redis and /api/kpis against the reference, then the drill's record in the artifacts."""
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
    assert_same_figures(served_figures(stack, events), figures(events))
    record = {
        "drill": drill, "sent": len(events), "counted": processed, "dead_lettered": rejected,
        "replayed": health_sum(health, "replayed"), "duplicates": health_sum(health, "duplicate"),
        "lost": len(events) - processed, **figures_,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "reliability.jsonl", "a") as out:
        out.write(json.dumps(record) + "\n")


def assigned_partitions(worker: Any) -> str:
    """The partitions the worker was given by its last rebalance, as aiokafka logged them."""
    found = re.findall(r"Setting newly assigned partitions (.*?) for group", worker.log_path.read_text(errors="replace"))
    assert found, "no partition assignment in the worker's log:\n" + worker.tail(40)
    return found[-1]


def test_drill_worker_killed_mid_stream_then_restarted(stack: LocalStack) -> None:
    events = workload(seed=11)
    worker = stack.start_worker()
    with publishing(stack, events):
        wait_processed(stack, len(events) // 3)
        worker.kill()  # SIGKILL: no flush, no commit
        stack.procs.procs.remove(worker)
        stored_at_kill = health_sum(wait_processed(stack, 0), "processed")
    assert stored_at_kill < len(events), "the worker finished before it was killed: nothing to prove"
    stack.start_worker(timeout=60)
    health = wait_processed(stack, len(events))
    # the kill left stored but uncommitted messages, and the new worker saw them again
    assert health_sum(health, "replayed") > 0, "nothing was replayed: the drill did not exercise recovery"
    time.sleep(1.0)  # anything still in flight would show as a difference
    check_exact(stack, events, "kill -9 of the worker at ~1/3, restart", stored_at_kill=stored_at_kill)


def run_one_worker(events: list[dict[str, Any]], app_id: str) -> dict[str, Any]:
    """The same events through a fresh stack with a single worker and no fault."""
    with drill_stack(app_id) as single:
        single.start_infra()
        single.start_worker()
        publish(single, events)
        wait_processed(single, len(events))
        return served_figures(single, events)


def test_drill_two_workers_one_killed(stack: LocalStack) -> None:
    events = workload(seed=12)
    stack.start_worker()
    second = stack.start_worker(timeout=60)
    with publishing(stack, events):
        wait_processed(stack, len(events) // 3)
        owned = assigned_partitions(second)
        second.kill()
        stack.procs.procs.remove(second)
        at_kill = wait_processed(stack, 0)
    assert "TopicPartition" in owned, f"the killed worker owned no partition: {owned}"
    assert health_sum(at_kill, "processed") < len(events), "all done before the kill: nothing to prove"
    health = wait_processed(stack, len(events), timeout=240)  # the survivor takes over the partitions
    # the survivor re-read what the killed worker had stored but not committed
    assert health_sum(health, "replayed") > health_sum(at_kill, "replayed"), "no replay after the kill"
    time.sleep(1.0)
    two = served_figures(stack, events)
    one = run_one_worker(events, "drill-two-workers-baseline")
    assert_same_figures(two, one)  # every served figure, two workers and a kill == one worker
    check_exact(stack, events, "two workers in one group, one killed with -9 at ~1/3",
                stored_at_kill=health_sum(at_kill, "processed"))


def test_drill_redis_killed_and_restarted_while_events_flow(stack: LocalStack) -> None:
    """Redis dies mid-stream, and one of two workers dies while Redis is away. The survivor
    must wait for Redis rather than die, and take over; whatever the dead worker could not
    store must not have been committed, or no worker would ever see it again."""
    events = workload(seed=13)
    survivor = stack.start_worker()
    doomed = stack.start_worker(timeout=60)
    url = stack.start_exporter()
    with publishing(stack, events):
        wait_processed(stack, len(events) // 4)
        assert stack.redis is not None
        stack.redis.proc.kill()  # SIGKILL: only what Redis acknowledged (fsynced) survives
    # while Redis is away the exporter still answers, and says Redis is down
    time.sleep(1.0)
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        assert response.status == 200
        assert samples(response.read().decode())[("cx_exporter_redis_up", ())] == 0
    stack.procs.procs.remove(stack.redis.proc)
    time.sleep(1.0)
    assert survivor.alive() and doomed.alive(), "the workers must wait for Redis, not die"
    owned = assigned_partitions(doomed)
    # it holds a batch it could not store (the worker logs its retries of Redis calls)
    deadline = time.monotonic() + 15
    while not re.search(r"redis unavailable[^?\n]{0,40}retrying", doomed.log_path.read_text(errors="replace")):
        assert time.monotonic() < deadline, "the worker never retried a batch:\n" + doomed.tail(40)
        time.sleep(0.2)
    doomed.kill()  # mid-retry: its current batch is neither stored nor committed
    stack.procs.procs.remove(doomed)
    assert "TopicPartition" in owned, f"the killed worker owned no partition: {owned}"
    time.sleep(1.0)
    from cxpulse.embedded import start_redis

    stack.redis = start_redis(stack.procs, stack.workdir, port=stack.redis.port, password=stack.redis_password)
    stored_before = health_sum(wait_processed(stack, 0), "processed")
    assert stored_before < len(events), "everything was stored before Redis died: nothing to prove"
    wait_processed(stack, len(events), timeout=240)
    time.sleep(1.0)
    assert survivor.alive(), "the surviving worker must resume once Redis is back"
    check_exact(stack, events, "Redis killed with -9 at ~1/4; one of two workers killed with -9 during the outage",
                stored_before_outage=stored_before)


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
