"""The benchmark harness end to end, small: it must keep working, whatever its numbers.

``python -m bench run --smoke`` starts its own broker and Redis, runs every step on
2,000 events (the soak for seconds) and writes the JSON and Markdown results. Quix
Streams and Bytewax are optional: absent from this environment they are reported as
unavailable, not failed. No timing is asserted: only that every section is there
and every measured number is positive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cxpulse.settings import load_settings
from streams.publisher import DEFAULT_LINGER_MS

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

THROUGHPUT = ("aiokafka", "aiokafka_envelope", "quix", "bytewax", "faust_table", "cxpulse", "cxpulse_envelope",
              "cxpulse_2_workers")


def test_smoke_run_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CXPULSE_CONFIG", None)
    run = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--smoke", "--out", str(out), "--workdir", str(tmp_path / "work")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280,
    )
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert "[bench" in run.stdout  # progress lines
    [json_path] = list(out.glob("*-smoke.json"))
    [md_path] = list(out.glob("*-smoke.md"))
    result = json.loads(json_path.read_text())

    machine = result["machine"]
    assert machine["cpu_model"] and machine["usable_cpus"] > 0 and machine["ram_gb"] > 0
    assert machine["python"] and machine["libraries"]["faust-streaming"] and machine["libraries"]["aiokafka"]
    assert len(result["load"]["before"]) == 3 and len(result["load"]["after"]) == 3
    assert result["workload"]["events"] == 2000 and sum(result["workload"]["per_stream"].values()) == 2000
    assert set(result["workload"]["layouts"]) == {"single", "envelope"}
    assert not result["errors"] and not result["interrupted"]

    throughput = result["throughput"]
    assert set(THROUGHPUT) <= set(throughput)
    for name in THROUGHPUT:
        entry = throughput[name]
        assert entry["status"] in ("ok", "skipped"), (name, entry)
        if entry["status"] == "ok":
            assert entry["events_per_s"] > 0 and entry["events"] >= 2000, (name, entry)
        else:
            assert entry["reason"], name
    for name in ("aiokafka", "aiokafka_envelope", "faust_table", "cxpulse", "cxpulse_envelope", "cxpulse_2_workers"):
        assert throughput[name]["status"] == "ok", name
    for name in ("quix", "bytewax"):  # optional extras: reported either way
        availability = result["availability"][name]
        assert availability["available"] == (throughput[name]["status"] == "ok")
    envelopes = result["capabilities"]["envelopes"]
    assert (throughput["cxpulse_envelope"]["status"] == "ok") == envelopes
    assert result["ratios"]["cxpulse / aiokafka"] > 0 and result["ratios"]["cxpulse_2_workers / cxpulse"] > 0
    for name in ("cxpulse", "cxpulse_envelope", "cxpulse_2_workers"):  # CPU of every process, so the ceilings
        assert throughput[name]["redis_cpu_seconds"] > 0 and throughput[name]["broker_cpu_seconds"] > 0, name
    top = result["ceilings"]
    assert top["cores"] == machine["usable_cpus"]
    for name in ("cxpulse", "cxpulse_envelope", "cxpulse_2_workers"):
        assert top[name]["bound_events_per_s"] > 0 and all(v > 0 for v in top[name]["cpu_us_per_event"].values())
    assert top["two_workers_ratio"] > 0 and top["envelope_ratio"] > 0

    fresh = result["freshness"]
    assert fresh["events"] > 0 and fresh["not_visible"] == 0
    assert 0 < fresh["p50_s"] <= fresh["p99_s"] <= fresh["max_s"]
    # the worker's share: in Redis no later than in /metrics, which is read from it (give or
    # take one read: a snapshot may be built between a Redis poll and the scrape after it)
    slack = fresh["scrape_interval_s"]
    in_redis = fresh["in_redis"]
    assert 0 < in_redis["p50_s"] <= fresh["p50_s"] + slack and in_redis["p99_s"] <= fresh["p99_s"] + slack
    assert set(fresh["cpu_cores"]) == {"worker", "exporter", "redis", "broker", "producer", "harness"}
    assert fresh["cpu_cores"]["worker"] > 0 and fresh["cpu_cores"]["redis"] > 0
    assert fresh["redis_forks"] == 0  # compacted before, and far from the rewrite threshold after
    # the publisher's linger, and Kafka's default in a run of its own beside it
    assert fresh["linger_ms"] == DEFAULT_LINGER_MS and result["freshness_linger5"]["linger_ms"] == 5
    assert result["freshness_linger5"]["not_visible"] == 0
    for entry in (fresh, result["freshness_envelope"], result["freshness_linger5"]):
        assert set(entry["cpu_cores_by_10s"]) == set(fresh["cpu_cores"])
    probe = result["broker_probe"]
    assert {e["linger_ms"] for e in probe.values()} == {5, 50}
    for entry in probe.values():
        assert entry["consumed"] == entry["records"] > 0 and entry["broker_cores_by_sample"]
    defaults = load_settings()  # the run says which latency settings it measured
    assert (fresh["snapshot_cache_s"], fresh["batch_within_s"], fresh["fetch_max_wait_ms"]) == (
        defaults.snapshot_cache_seconds, defaults.batch_within_seconds, defaults.consumer_fetch_max_wait_ms)

    api = result["api_latency"]
    for stage in (api["before_seeding"], api):
        assert stage["series"] > 0 and stage["metrics_bytes"] > 0
        for path in ("/metrics", "/api/kpis"):
            for mode in ("spaced", "back_to_back"):
                timing = stage[path][mode]
                assert timing["n"] > 0 and 0 < timing["p50_s"] <= timing["p95_s"] <= timing["max_s"]
        build = stage["snapshot_build"]  # the exporter's own gauge, read from each spaced scrape
        assert build["n"] > 0 and 0 < build["p50_s"] <= build["p95_s"] <= build["max_s"]
    assert api["series"] > api["before_seeding"]["series"]  # the seeded segments show up

    soak = result["soak"]
    assert soak["events"] > 0 and soak["samples"] and all(rss > 0 for _, rss, _ in soak["samples"])
    assert soak["rss_mb_after_warmup_mean"] > 0

    goals = result["goals"]
    assert len(goals) == 6 and all({"goal", "target", "measured", "met"} <= set(g) for g in goals)

    summary = md_path.read_text()
    for heading in ("## Machine", "## Workload", "## Throughput", "## Ratios", "## Freshness", "## API latency",
                    "## Soak", "## Goals", "## The broker alone (Tansu)", "## CPU per event, and what the machine allows"):
        assert heading in summary, heading
