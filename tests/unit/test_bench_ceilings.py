"""The machine's ceilings: bounds from CPU per event, checked on hand-worked cases."""

from __future__ import annotations

from typing import Any

import pytest

from bench.ceilings import bound, ceilings, cpu_per_event


def step(events: int, worker: list[float], redis: float, broker: float | None, workers: int = 1) -> dict[str, Any]:
    return {"status": "ok", "events": events, "worker_cpu_seconds": worker, "redis_cpu_seconds": redis,
            "broker_cpu_seconds": broker, "workers": workers}


def test_cpu_per_event_needs_every_process() -> None:
    assert cpu_per_event(step(100_000, [6.0], 5.0, 1.0)) == pytest.approx({"worker": 60e-6, "redis": 50e-6, "broker": 10e-6})
    assert cpu_per_event(step(100_000, [6.0], 5.0, None)) is None  # a result from before the broker was sampled
    assert cpu_per_event({"status": "failed"}) is None


def test_the_bound_is_the_tightest_of_one_worker_redis_and_the_cores() -> None:
    cost = {"worker": 60e-6, "redis": 50e-6, "broker": 10e-6}
    # one worker: itself (16,667/s) beats the two cores (2 / 120 µs = 16,667/s) by a hair; Redis allows 20,000
    assert bound(cost, cores=2, workers=1) == pytest.approx(16_666.7, rel=1e-4)
    # two workers: no longer held by the worker, but the cores still allow 16,667: no gain at all
    assert bound(cost, cores=2, workers=2) == pytest.approx(16_666.7, rel=1e-4)
    # on eight cores the same work is held by Redis' one thread
    assert bound(cost, cores=8, workers=2) == pytest.approx(20_000)


def test_ceilings_of_a_result() -> None:
    result = {
        "machine": {"usable_cpus": 2},
        "throughput": {
            "cxpulse": step(100_000, [8.0], 2.0, 1.0) | {"events_per_s": 10_000.0},  # 80 / 20 / 10 µs
            "cxpulse_envelope": step(100_000, [5.0], 5.0, 0.5),  # 50 / 50 / 5 µs
            "cxpulse_2_workers": step(100_000, [4.0, 4.0], 2.0, 1.0, workers=2),
            "aiokafka_envelope": {"status": "ok", "events_per_s": 80_000.0},
        },
    }
    top = ceilings(result)
    assert top["cores"] == 2
    assert top["cxpulse"] == {"cpu_us_per_event": {"worker": 80.0, "redis": 20.0, "broker": 10.0},
                              "bound_events_per_s": 12_500}
    # two workers, at the CPU per event they spent: 2 cores / 110 µs = 18,182/s, against
    # the 10,000/s one worker measured (below its own ceiling of 12,500/s)
    assert top["cxpulse_2_workers"]["bound_events_per_s"] == 18_182
    assert top["two_workers_ratio"] == pytest.approx(1.82)
    # envelopes: 2 cores / 105 µs = 19,048/s, against a loop of 80,000/s
    assert top["envelope_ratio"] == pytest.approx(0.24)
    # 0.5x = 40,000/s: 25 µs per one-thread process, 50 µs for all three together
    assert top["envelope_half_needs_us"] == {"each": 25.0, "all": 50.0}


def test_no_cores_or_no_cpu_figures_give_no_ceilings() -> None:
    assert ceilings({"machine": {}}) == {"cores": 0}
    assert ceilings({"machine": {"usable_cpus": 2}, "throughput": {"cxpulse": step(10, [1.0], 1.0, None)}}) == {"cores": 2}


def test_bench_report_recomputes_the_derived_parts_of_a_past_result(tmp_path: Any) -> None:
    import json

    from bench.cli import main

    result = {
        "machine": {"usable_cpus": 2},
        "throughput": {"cxpulse": step(100_000, [8.0], 2.0, 1.0) | {"events_per_s": 10_000.0},
                       "cxpulse_2_workers": step(100_000, [4.0, 4.0], 2.0, 1.0, workers=2) | {"events_per_s": 12_000.0}},
        "goals": [],  # as a run before this derivation left them
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(result))
    assert main(["report", str(path)]) == 0
    again = json.loads(path.read_text())
    assert again["ceilings"]["two_workers_ratio"] == pytest.approx(1.82)
    assert again["ratios"]["cxpulse_2_workers / cxpulse"] == pytest.approx(1.2)
    [two] = [g for g in again["goals"] if g["goal"] == "two workers vs one"]
    assert two["met"] is False and "1.82x" in two["note"]
    summary = (tmp_path / "run.md").read_text()
    assert "## CPU per event, and what the machine allows" in summary
    assert "| cxpulse_2_workers | 80.0 | 20.0 | 10.0 | 18,182 |" in summary  # both workers' CPU together
