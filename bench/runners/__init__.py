"""Baseline runners: each runs in its own process and prints one ``BENCH_RESULT`` line.

A runner gets its spec as one JSON argument (bootstrap, topics, expected events,
...), consumes the pre-produced workload from the start with a fresh consumer group
or a manual assignment, and reports events/s from its first to its last message.
Runners for optional libraries (Quix Streams, Bytewax) may run under another
virtualenv's interpreter, so they import nothing from cxpulse but ``bench.runners``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

MARK = "BENCH_RESULT "


def spec_from_argv() -> dict[str, Any]:
    return json.loads(sys.argv[1])


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def parse(output: str) -> dict[str, Any] | None:
    """The last result line in a runner's output (a spinner may prefix it)."""
    for line in reversed(output.splitlines()):
        at = line.find(MARK)
        if at >= 0:
            return json.loads(line[at + len(MARK):])
    return None


def emit(result: dict[str, Any]) -> None:
    """Print the result line the orchestrator parses (flushed: we may ``os._exit``)."""
    sys.stdout.write(MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


class Meter:
    """First-to-last-message timing with a per-event count."""

    __slots__ = ("events", "messages", "first", "last", "expected", "first_events", "trace", "_next_mark", "_step")

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.events = 0
        self.messages = 0
        self.first = 0.0
        self.last = 0.0
        self.first_events = 0
        self.trace: list[tuple[float, int]] = []  # (seconds since first, events) every ~5 %
        self._step = max(1, expected // 20)
        self._next_mark = self._step

    def add(self, events: int = 1, messages: int = 1) -> bool:
        """Count; True once the expected number of events has been seen."""
        now = time.perf_counter()
        if not self.messages:
            self.first = now
            self.first_events = events
        self.messages += messages
        self.events += events
        self.last = now
        if self.events >= self._next_mark:
            self.trace.append((round(now - self.first, 3), self.events))
            self._next_mark += self._step
        return self.events >= self.expected

    def result(self, **extra: Any) -> dict[str, Any]:
        seconds = max(self.last - self.first, 1e-9)
        # The first message's events were processed before the interval began.
        counted = max(self.events - self.first_events, 1)
        return {"events": self.events, "messages": self.messages, "seconds": seconds,
                "events_per_s": counted / seconds, "trace": self.trace, **extra}
