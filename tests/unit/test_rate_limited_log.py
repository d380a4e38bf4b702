"""A flood of bad input must not flood the logs, yet the log must say how much it left out.

``RateLimitedLog`` (processors/batch.py) logs each dead letter, at most ``limit`` per
``period``, then one line counting the rest. Driven by a fake clock, so no sleeping.
"""

from __future__ import annotations

import logging

import pytest

from processors.batch import RateLimitedLog


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "processors.batch"]


def flood(limiter: RateLimitedLog, n: int, first: int = 0) -> None:
    for i in range(first, first + n):
        limiter.warning("dead-lettered %s (%s)", f"cx.calls:0:{i}", "late")


def test_at_most_limit_lines_per_period(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="processors.batch")
    limiter = RateLimitedLog(limit=3, period=10.0, clock=clock)
    flood(limiter, 2)
    clock.now += 9.9  # still the same period
    flood(limiter, 5, first=2)
    assert lines(caplog) == [f"dead-lettered cx.calls:0:{i} (late)" for i in range(3)]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_a_new_period_reports_the_rest_then_logs_again(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="processors.batch")
    limiter = RateLimitedLog(limit=2, period=10.0, clock=clock)
    flood(limiter, 7)  # 2 logged, 5 suppressed
    clock.now += 10.0  # the period is over (inclusive)
    flood(limiter, 3, first=7)
    assert lines(caplog) == [
        "dead-lettered cx.calls:0:0 (late)",
        "dead-lettered cx.calls:0:1 (late)",
        "5 more dead-lettered messages not logged in the last 10s",
        "dead-lettered cx.calls:0:7 (late)",
        "dead-lettered cx.calls:0:8 (late)",
    ]
    clock.now += 25.0  # a quiet spell, then one more: the 1 suppressed above is reported first
    flood(limiter, 1, first=10)
    assert lines(caplog)[-2:] == [
        "1 more dead-lettered messages not logged in the last 10s",
        "dead-lettered cx.calls:0:10 (late)",
    ]


def test_no_summary_line_when_nothing_was_suppressed(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="processors.batch")
    limiter = RateLimitedLog(limit=2, period=10.0, clock=clock)
    flood(limiter, 2)
    clock.now += 10.0
    flood(limiter, 2, first=2)
    assert lines(caplog) == [f"dead-lettered cx.calls:0:{i} (late)" for i in range(4)]
    assert (limiter.count, limiter.suppressed) == (2, 0)


def test_the_period_starts_when_the_limiter_is_made(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    """A worker that starts and sees its first bad message much later still gets the full limit."""
    caplog.set_level(logging.WARNING, logger="processors.batch")
    limiter = RateLimitedLog(limit=1, period=10.0, clock=clock)
    clock.now += 3600.0
    flood(limiter, 3)
    assert lines(caplog) == ["dead-lettered cx.calls:0:0 (late)"]
    assert limiter.suppressed == 2


def test_flush_reports_a_flood_that_stopped(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="processors.batch")
    limiter = RateLimitedLog(limit=1, period=10.0, clock=clock)
    flood(limiter, 4)
    limiter.flush()  # too early: the period is not over
    assert lines(caplog) == ["dead-lettered cx.calls:0:0 (late)"]
    clock.now += 10.0
    limiter.flush()
    limiter.flush()  # once only
    assert lines(caplog) == ["dead-lettered cx.calls:0:0 (late)", "3 more dead-lettered messages not logged in the last 10s"]
    flood(limiter, 1, first=4)
    assert lines(caplog)[-1] == "dead-lettered cx.calls:0:4 (late)" and len(lines(caplog)) == 3


def test_extra_fields_reach_the_log_record(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="processors.batch")
    RateLimitedLog(clock=clock).warning("dead-lettered %s", "x", extra={"reason": "late"})
    assert caplog.records[-1].reason == "late"  # type: ignore[attr-defined]
