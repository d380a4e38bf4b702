"""The exporter's snapshot, kept fresh in the background while anyone reads it.

Why: building a snapshot reads every bucket of every window from Redis and computes
every KPI (~50-150 ms at 2,000 series, seconds at 40,000), and rendering it for
Prometheus costs as much again. Built on demand, that cost landed on whichever
request found the cache expired: every Prometheus scrape (15 s apart, so always
expired) paid it in full. Here a refresher task rebuilds the snapshot, and renders
``/metrics`` once per snapshot, every ``period`` seconds while requests keep coming;
a request is served what is ready.

Freshness is bounded, not traded away: a request is served the ready snapshot only
while it is younger than ``max_age`` (two periods plus two build times). Older (the
first request after ``idle`` seconds without any, or the refresher failing, e.g.
Redis down) the request builds synchronously, exactly as before, and sees the error.

CPU is bounded too: builds start ``period`` seconds apart, but the refresher waits
at least as long as its last build took, so it never uses more than half a core
however large the snapshot grows, and it stops once nobody has asked for ``idle``
seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

log = logging.getLogger(__name__)

Builder = Callable[[], Awaitable[dict[str, Any]]]
Renderer = Callable[[dict[str, Any]], bytes]


@dataclass(slots=True)
class Ready:
    """One snapshot and what has been rendered from it (each at most once)."""

    snapshot: dict[str, Any]
    built_at: float  # time.monotonic()
    duration: float  # seconds the build and its pre-rendering took
    started_at: float = 0.0  # when the build began reading: the refresher's period runs from here
    rendered: dict[str, bytes] = field(default_factory=dict)

    def body(self, name: str, render: Renderer) -> bytes:
        out = self.rendered.get(name)
        if out is None:
            out = self.rendered[name] = render(self.snapshot)
        return out


class SnapshotCache:
    def __init__(
        self,
        build: Builder,
        *,
        period: float,
        idle: float = 120.0,
        prerender: dict[str, Renderer] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.build = build
        self.period = period
        self.idle = idle
        self.prerender = prerender or {}
        self.clock = clock
        self.builds = 0
        self._ready: Ready | None = None
        self._lock = asyncio.Lock()
        self._last_request = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def last_duration(self) -> float:
        return self._ready.duration if self._ready else 0.0

    def max_age(self) -> float:
        return 2 * self.period + 2 * self.last_duration

    async def get(self) -> Ready:
        """The newest snapshot no older than ``max_age``; raises what a build raises."""
        self._last_request = self.clock()
        if self.period <= 0:
            return await self._rebuild(if_older_than=-1.0)  # no caching: every request builds
        ready = self._ready
        if ready is None or self.clock() - ready.built_at > self.max_age():
            ready = await self._rebuild(if_older_than=self.max_age())
        self._ensure_refresher()
        return ready

    async def _rebuild(self, if_older_than: float) -> Ready:
        async with self._lock:  # concurrent requests share one build
            ready = self._ready
            if ready is not None and self.clock() - ready.built_at <= if_older_than:
                return ready
            started = time.perf_counter()
            started_at = self.clock()
            ready = Ready(await self.build(), self.clock(), 0.0, started_at=started_at)
            for name, render in self.prerender.items():
                ready.body(name, render)
            ready.duration = time.perf_counter() - started
            self.builds += 1
            self._ready = ready
            return ready

    def _ensure_refresher(self) -> None:
        if self.period <= 0 or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._refresh(), name="snapshot-refresher")

    async def _refresh(self) -> None:
        while self.clock() - self._last_request <= self.idle:
            await asyncio.sleep(self.pause())
            try:
                await self._rebuild(if_older_than=self.period * 0.9)
            except Exception as exc:  # (cancellation is not an Exception: it ends the loop)  # Redis away: requests will build and report it themselves
                log.warning("snapshot refresh failed: %s", exc)
                await asyncio.sleep(self.period)

    def pause(self) -> float:
        """Seconds until the refresher's next build: one ``period`` after the last build
        began (counting from its end stretched the period by the build, ~0.15 s at 5k
        events/s), but never less than the last build took, so it keeps to half a core."""
        ready = self._ready
        if ready is None:
            return self.period
        return max(self.period - (self.clock() - ready.started_at), ready.duration, 0.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
