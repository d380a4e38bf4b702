"""The exporter's snapshot cache: background rebuilds, bounded age, errors surfaced.

Driven with a counting builder instead of Redis: what is under test is when builds
happen and what a request is served, not the snapshot's content (test_store covers it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from exporters.snapshot_cache import SnapshotCache


class Builder:
    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.calls = 0
        self.fail: Exception | None = None

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(self.seconds)
        if self.fail:
            raise self.fail
        return {"n": self.calls}


async def test_the_first_request_builds_then_the_refresher_keeps_it_fresh() -> None:
    build = Builder()
    renders: list[int] = []
    cache = SnapshotCache(build, period=0.05, idle=10, prerender={"m": lambda s: renders.append(s["n"]) or b"x"})
    try:
        first = await cache.get()
        assert first.snapshot == {"n": 1} and renders == [1]  # pre-rendered with its build
        await asyncio.sleep(0.5)
        ready = await cache.get()
        assert ready.snapshot["n"] >= 4  # rebuilt in the background, not by this request
        assert build.calls == ready.snapshot["n"] and renders == list(range(1, build.calls + 1))
        assert ready.body("m", lambda s: b"never called") == b"x"  # rendered once per snapshot
    finally:
        await cache.close()


async def test_concurrent_requests_share_one_build() -> None:
    build = Builder(seconds=0.05)
    cache = SnapshotCache(build, period=1.0)
    try:
        results = await asyncio.gather(*(cache.get() for _ in range(10)))
        assert build.calls == 1 and all(r is results[0] for r in results)
    finally:
        await cache.close()


async def test_nothing_older_than_max_age_is_served_when_the_refresher_stops() -> None:
    now = [1000.0]
    build = Builder()
    cache = SnapshotCache(build, period=0.5, idle=1.0, clock=lambda: now[0])
    try:
        await cache.get()
        await cache.close()  # as if the refresher were stuck
        now[0] += cache.max_age() - 0.01
        assert (await cache.get()).snapshot == {"n": 1}  # still young enough
        await cache.close()
        now[0] += 0.02
        assert (await cache.get()).snapshot == {"n": 2}  # too old: this request built
    finally:
        await cache.close()


async def test_the_refresher_stops_when_nobody_asks() -> None:
    build = Builder()
    cache = SnapshotCache(build, period=0.02, idle=0.1)
    await cache.get()
    await asyncio.sleep(0.5)
    calls = build.calls
    await asyncio.sleep(0.3)
    assert build.calls == calls and calls < 15  # stopped after ~idle
    await cache.close()


async def test_a_failing_build_reaches_the_request_once_the_snapshot_is_too_old() -> None:
    now = [0.0]
    build = Builder()
    cache = SnapshotCache(build, period=0.5, clock=lambda: now[0])
    try:
        await cache.get()
        await cache.close()
        build.fail = ConnectionError("redis down")
        now[0] += 10
        with pytest.raises(ConnectionError):
            await cache.get()
    finally:
        await cache.close()


async def test_period_zero_builds_on_every_request() -> None:
    build = Builder()
    cache = SnapshotCache(build, period=0)
    for _ in range(3):
        await cache.get()
    assert build.calls == 3
    await cache.close()


async def test_builds_start_one_period_apart_however_long_they_take() -> None:
    now = [0.0]

    class Slow(Builder):
        async def __call__(self) -> dict[str, Any]:
            now[0] += 0.15  # the build takes 0.15 s of the clock
            return await super().__call__()

    cache = SnapshotCache(Slow(), period=0.5, clock=lambda: now[0])
    try:
        ready = await cache.get()
        await cache.close()
        ready.duration = 0.15  # as measured (the build's own timer is the real one)
        assert now[0] == pytest.approx(0.15)
        # the next build starts 0.5 s after this one began, not 0.5 s after it ended
        assert cache.pause() == pytest.approx(0.35)
        now[0] += 0.3
        assert cache.pause() == pytest.approx(0.15)  # never sooner than a build takes: half a core at most
        now[0] += 1.0
        assert cache.pause() == pytest.approx(0.15)
    finally:
        await cache.close()
