"""processors/fast_consumer.py: the eager step, the version guard, the copied drain loop
with a blocked callback interrupted by a rebalance, and two real workers on the Tansu
broker sharing a group while the second one's arrival rebalances the first."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import textwrap
import threading
import time
import uuid
from collections import namedtuple
from pathlib import Path
from typing import Any, AsyncIterator

import faust
import pytest
import redis

from cxpulse.embedded import Service
from cxpulse.procs import ManagedProcess, ProcessSet
from processors import fast_consumer
from processors.fast_consumer import (
    FastDrainConsumer,
    FastProducer,
    FastTransport,
    LeanProducerBuffer,
    install,
    is_supported,
    run_eagerly,
)

REPO = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------ run_eagerly


async def test_a_coroutine_that_never_waits_completes_in_place() -> None:
    steps: list[str] = []

    async def quick() -> int:
        steps.append("ran")
        return 7

    done, result = run_eagerly(quick())
    assert (done, result, steps) == (True, 7, ["ran"])


async def test_an_exception_before_any_wait_propagates_at_once() -> None:
    async def broken() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        run_eagerly(broken())


async def test_a_coroutine_that_waits_is_finished_by_whoever_awaits_the_rest() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    trail: list[str] = []

    async def slow() -> str:
        trail.append("before")
        got = await gate
        trail.append(f"after {got}")
        await asyncio.sleep(0)
        return got.upper()

    done, rest = run_eagerly(slow())
    assert done is False and trail == ["before"]
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    gate.set_result("open")
    assert await task == "OPEN"
    assert trail == ["before", "after open"]


async def test_an_exception_after_the_wait_reaches_the_awaiter() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def failing() -> None:
        await gate
        raise ValueError("late")

    done, rest = run_eagerly(failing())
    task = asyncio.ensure_future(rest)
    gate.set_result(None)
    with pytest.raises(ValueError, match="late"):
        await task
    assert not done


async def test_cancelling_the_rest_cancels_the_coroutine_where_it_waits() -> None:
    cleaned: list[str] = []

    async def blocked() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("finally ran")

    _, rest = run_eagerly(blocked())
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["finally ran"]


# ------------------------------------------------------------- version and install


@pytest.mark.parametrize(
    "version, ok",
    [("0.15.3", True), ("0.15.0", True), ("0.15.10rc1", True), ("0.16.0", False), ("0.14.9", False), ("1.0.0", False)],
)
def test_only_the_copied_faust_series_is_supported(version: str, ok: bool) -> None:
    assert is_supported(version) is ok


def test_install_swaps_the_transport_before_the_consumer_exists() -> None:
    app = faust.App(f"t{uuid.uuid4().hex[:6]}", broker="kafka://127.0.0.1:1")
    assert install(app, fetch_max_wait_ms=120) is True
    assert isinstance(app.transport, FastTransport) and app.transport.fetch_max_wait_ms == 120
    assert app.transport.Consumer is FastDrainConsumer
    assert isinstance(app.producer, FastProducer) and isinstance(app.producer.buffer, LeanProducerBuffer)
    assert app.producer.buffer.app is app


async def test_the_lean_buffer_flushes_only_over_its_limit() -> None:
    flushed: list[int | None] = []

    class Recording(LeanProducerBuffer):
        async def flush_atmost(self, max_messages: int | None) -> int:
            flushed.append(max_messages)
            while self.pending.qsize() > (max_messages or 0):
                self.pending.get_nowait()
            return 0

    app = faust.App(f"t{uuid.uuid4().hex[:6]}", broker="kafka://127.0.0.1:1")
    buffer = Recording()
    buffer.app = app
    for _ in range(buffer.max_messages):
        buffer.pending.put_nowait(object())
    await buffer.wait_until_ebb()
    assert flushed == []  # at the limit: nothing to wait for
    buffer.pending.put_nowait(object())
    await buffer.wait_until_ebb()
    assert flushed == [buffer.max_messages]  # over it: Faust's own flush, as before


def test_install_leaves_faust_alone_when_disabled_or_on_another_version(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = faust.App(f"t{uuid.uuid4().hex[:6]}", broker="kafka://127.0.0.1:1")
    assert install(app, enabled=False) is False
    monkeypatch.setattr(faust, "__version__", "0.16.1")
    with caplog.at_level(logging.WARNING, logger=fast_consumer.__name__):
        assert install(app) is False
    assert "0.16.1" in caplog.text
    assert type(app.transport) is not FastTransport


def test_fast_consumer_is_current_with_the_installed_faust() -> None:
    """Fails when faust-streaming leaves 0.15.x: re-read its _drain_messages, then the copy."""
    assert is_supported(), f"faust-streaming {faust.__version__}: re-check processors/fast_consumer.py"


# -------------------------------------------------- the drain loop, message by message

Msg = namedtuple("Msg", "topic partition offset key value")


class _Fetcher:
    def __init__(self) -> None:
        self._stopped = asyncio.Event()


async def _drain_scenario(block_offset: int) -> tuple[FastDrainConsumer, _Fetcher, list[str], asyncio.Task[None]]:
    """A FastDrainConsumer (never connected) draining offsets 0..4 of one partition."""
    app = faust.App(f"t{uuid.uuid4().hex[:6]}", broker="kafka://127.0.0.1:1")
    assert install(app)
    consumer = app.consumer
    assert isinstance(consumer, FastDrainConsumer)
    tp = consumer._new_topicpartition("t", 0)
    trail: list[str] = []
    messages = [Msg("t", 0, i, b"k", b"v") for i in range(5)]
    served = {"done": False}

    async def getmany(timeout: float) -> AsyncIterator[tuple[Any, Msg]]:
        if served["done"] or not consumer.flow_active:
            await asyncio.sleep(0.01)
            return
        served["done"] = True
        for message in messages:
            if not consumer.flow_active:  # as Consumer.getmany does between records
                break
            yield tp, message

    async def callback(message: Msg) -> None:
        trail.append(f"in {message.offset}")
        if message.offset == block_offset:
            try:
                await asyncio.Event().wait()  # e.g. the stream buffer is full
            except asyncio.CancelledError:
                trail.append(f"cancelled {message.offset}")
                raise
        trail.append(f"out {message.offset}")

    consumer.callback = callback  # type: ignore[assignment]
    consumer.getmany = getmany  # type: ignore[method-assign]
    fetcher = _Fetcher()
    task = asyncio.ensure_future(consumer._drain_messages(fetcher))
    return consumer, fetcher, trail, task


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_a_callback_blocked_when_flow_stops_is_interrupted_as_upstream_does() -> None:
    consumer, fetcher, trail, task = await _drain_scenario(block_offset=2)
    await _until(lambda: "in 2" in trail)
    await asyncio.sleep(0.05)
    assert trail == ["in 0", "out 0", "in 1", "out 1", "in 2"]  # stuck on 2, as upstream would be
    consumer.stop_flow()  # what a rebalance does first (App._on_partitions_revoked)
    await _until(lambda: "cancelled 2" in trail)
    fetcher._stopped.set()
    await asyncio.wait_for(task, 5)
    # the blocked message was dropped (it is re-fetched from the committed offset after
    # the rebalance) and nothing after it was delivered while flow was stopped
    assert trail == ["in 0", "out 0", "in 1", "out 1", "in 2", "cancelled 2"]
    assert (consumer.fast_path_messages, consumer.slow_path_messages) == (2, 1)


async def test_a_callback_that_waits_and_finishes_keeps_the_order() -> None:
    consumer, fetcher, trail, task = await _drain_scenario(block_offset=-1)
    await _until(lambda: "out 4" in trail)
    fetcher._stopped.set()
    await asyncio.wait_for(task, 5)
    assert trail == [f"{step} {i}" for i in range(5) for step in ("in", "out")]
    assert (consumer.fast_path_messages, consumer.slow_path_messages) == (5, 0)


async def test_stopping_the_consumer_releases_a_blocked_callback() -> None:
    consumer, fetcher, trail, task = await _drain_scenario(block_offset=0)
    await _until(lambda: "in 0" in trail)
    consumer._stopped.set()  # the consumer service stops: wait_first gives up too
    await _until(lambda: "cancelled 0" in trail)
    fetcher._stopped.set()
    await asyncio.wait_for(task, 5)
    assert consumer.slow_path_messages == 1


# ------------------------------------------- two workers, a real rebalance on Tansu

WORKER = textwrap.dedent(
    """
    import asyncio, json, os
    import faust
    import redis.asyncio as aioredis
    from processors.fast_consumer import install

    spec = json.loads(os.environ["FAST_CONSUMER_TEST_SPEC"])
    name = spec["name"]
    app = faust.App(
        spec["group"], broker=spec["broker"], store="memory://", topic_disable_leader=True, web_enabled=False,
        datadir=spec["datadir"],
        consumer_auto_offset_reset="earliest", broker_session_timeout=6.0, broker_heartbeat_interval=0.5,
        broker_commit_interval=0.5, topic_partitions=4,
        stream_buffer_maxsize=32,  # small, with a slow agent: callbacks block on a full buffer
    )
    assert install(app, fetch_max_wait_ms=100)
    topic = app.topic(spec["topic"], value_serializer="raw", key_serializer="raw")
    store = {}

    def client():
        if "r" not in store:
            store["r"] = aioredis.from_url(spec["redis"])
        return store["r"]

    @app.agent(topic)
    async def work(stream):
        async for batch in stream.take(20, within=0.05):
            await asyncio.sleep(0.02)  # a slow agent (~1,000 events/s) keeps its buffer full
            pipe = client().pipeline()
            pipe.sadd(spec["prefix"] + ":seen", *batch)
            pipe.hincrby(spec["prefix"] + ":by", name, len(batch))
            await pipe.execute()

    @app.timer(0.2)
    async def report():
        c = app.consumer
        await client().hset(spec["prefix"] + ":paths:" + name, mapping={
            "fast": c.fast_path_messages, "slow": c.slow_path_messages,
            "assigned": len(c.assignment()), "rebalances": app.rebalancing_count,
        })

    from faust.worker import Worker

    Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()
    """
)


def _produce(bootstrap: str, topic: str, values: list[bytes], rate: float | None = None) -> None:
    """Produce ``values`` (keyed by themselves, so over every partition), at ``rate``/s if given."""
    from aiokafka import AIOKafkaProducer

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, enable_idempotence=False)
        await producer.start()
        try:
            futures = []
            for i, v in enumerate(values):
                futures.append(await producer.send(topic, v, key=v))
                if rate and i % 30 == 29:
                    await asyncio.sleep(30 / rate)
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(go())


def _wait(predicate: Any, timeout: float, what: str, procs: list[ManagedProcess]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for proc in procs:
            assert proc.alive(), f"{proc.name} died:\n{proc.tail(40)}"
        assert time.monotonic() < deadline, f"timed out: {what}\n" + "\n".join(p.tail(15) for p in procs)
        time.sleep(0.1)


def test_two_workers_rebalance_mid_stream_without_losing_or_sticking(
    broker_service: Service, redis_service: Service, tmp_path: Path
) -> None:
    from bench.workload import create_topics

    bootstrap = broker_service.url.removeprefix("kafka://")
    run = uuid.uuid4().hex[:8]
    topic, group, prefix = f"fc.{run}", f"fc{run}", f"fc:{run}"
    asyncio.run(create_topics(bootstrap, [topic], 4))
    first = [f"m{i:05d}".encode() for i in range(3000)]
    later = [f"m{i:05d}".encode() for i in range(3000, 6000)]
    _produce(bootstrap, topic, first)
    r = redis.Redis.from_url(redis_service.url, decode_responses=True)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "PYTHONUNBUFFERED": "1"}

    def start(name: str) -> ManagedProcess:
        spec = {"name": name, "group": group, "broker": broker_service.url, "topic": topic, "redis": redis_service.url,
                "prefix": prefix, "datadir": str(tmp_path / f"{name}-data")}
        args = [sys.executable, str(script)]
        return procs.add(ManagedProcess(name, args, tmp_path / f"{name}.log", {**env, "FAST_CONSUMER_TEST_SPEC": json.dumps(spec)}))

    def count(name: str) -> int:
        return int(r.hget(f"{prefix}:by", name) or 0)

    procs = ProcessSet()
    with procs.guard():
        a = start("a")
        _wait(lambda: count("a") >= 600, 60, "worker a consuming", [a])
        b = start("b")  # joining the group rebalances a while its buffer is full
        feeder = threading.Thread(target=_produce, args=(bootstrap, topic, later, 300.0), daemon=True)
        feeder.start()  # ~10 s of traffic: the rebalance happens mid-stream
        _wait(lambda: count("b") > 0, 60, "worker b taking partitions", [a, b])
        a_after_rebalance = count("a")
        _wait(lambda: r.scard(f"{prefix}:seen") >= 6000, 90, "every message consumed", [a, b])
        seen = r.smembers(f"{prefix}:seen")
        assert seen == {v.decode() for v in first + later}  # nothing lost (replays are allowed)
        paths_a = r.hgetall(f"{prefix}:paths:a")
        paths_b = r.hgetall(f"{prefix}:paths:b")
        assert int(paths_a.get("rebalances", 0)) >= 2  # joined, then rebalanced by b
        assert int(paths_a["slow"]) > 0  # callbacks did block, and were raced as upstream does
        assert int(paths_a["fast"]) > int(paths_a["slow"])
        assert int(paths_b.get("assigned", 0)) > 0 and int(paths_a.get("assigned", 0)) > 0
        # a kept going after the rebalance
        _wait(lambda: int(r.hget(f"{prefix}:paths:a", "assigned") or 0) > 0, 10, "a assigned", [a, b])
        assert count("a") > a_after_rebalance
        assert count("a") + count("b") >= 6000
        feeder.join(30)
    r.close()
