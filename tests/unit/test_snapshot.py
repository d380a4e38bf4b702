"""The snapshot's concurrent reads: a failure stops the others and surfaces as itself."""

from __future__ import annotations

import asyncio

import pytest

from exporters.snapshot import _all


async def test_all_returns_results_in_order() -> None:
    async def late(value: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return value

    assert await _all(late(1, 0.02), late(2, 0.0), late(3, 0.01)) == [1, 2, 3]


async def test_a_failure_cancels_the_other_steps_and_is_raised_as_itself() -> None:
    cancelled: list[str] = []

    async def slow(name: str) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    async def broken() -> None:
        await asyncio.sleep(0.01)
        raise ConnectionError("redis went away")

    with pytest.raises(ConnectionError, match="redis went away"):  # not an ExceptionGroup: handlers catch it
        await asyncio.wait_for(_all(slow("a"), broken(), slow("b")), timeout=5)
    assert sorted(cancelled) == ["a", "b"]
    leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftovers == []
