"""Metric families built from a snapshot: names, labels, and what is left out."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cxpulse.settings import load_settings
from exporters.collector import CALL_COUNTERS, SnapshotCollector
from exporters.entry_memo import window_entry
from processors.fold_calls import CALL_FIELDS
from exporters.views import VIEWS

SETTINGS = load_settings()


def snapshot(counts: dict[str, float]) -> dict[str, Any]:
    entry = window_entry(counts, SETTINGS, VIEWS["calls"])
    segment = {
        "queue": "sales", "channel": "voice",
        "thresholds": {"sl_threshold_seconds": 20.0, "short_abandon_seconds": 5.0},
        "live": {"waiting": 3, "longest_wait_seconds": 42.0},
        "totals": {name: counts.get(name, 0.0) for name in CALL_FIELDS},
        "windows": {w: entry for w in VIEWS["calls"].windows},
    }
    return {
        "calls": {"segments": [segment]},
        "surveys": {"segments": [], "min_sample": 30},
        "tickets": {"segments": []},
        "carts": {"segments": []},
        "pipeline": {
            "topics": {"cx.calls": {"processed": 10.0, "duplicate": 1.0, "replayed": 0.0,
                                    "rejected": {"late": 2.0, "invalid": 1.0}, "last_event_ts": 1.7e9,
                                    "last_processed_ts": None}},
            "workers": {"h:1": {"last_heartbeat_ts": 1.7e9, "age_seconds": 1.0}},
            "workers_alive": 1,
            "broker": {"last_ok_ts": 1.7e9, "up": True},
            "partitions": {"cx.calls": {"0": 4.0, "1": 6.0}},
        },
    }


def scrape(snap: dict[str, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snap))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


SEG = (("channel", "voice"), ("queue", "sales"))


def test_counters_exist_from_the_start_with_zero() -> None:
    samples = scrape(snapshot({}))
    for name, _ in CALL_COUNTERS.values():
        assert samples[(name + "_total", SEG)] == 0.0


def test_ratio_without_denominator_is_left_out_not_zero() -> None:
    samples = scrape(snapshot({"offered": 0.0}))
    assert not any(name == "cx_call_abandon_ratio" for name, _ in samples)
    samples = scrape(snapshot({"offered": 10.0, "abandoned": 2.0}))
    key = ("cx_call_abandon_ratio", tuple(sorted({**dict(SEG), "window": "5m"}.items())))
    assert samples[key] == 0.2


def test_live_gauges_and_pipeline_health() -> None:
    samples = scrape(snapshot({}))
    assert samples[("cx_calls_waiting", SEG)] == 3
    assert samples[("cx_call_longest_wait_seconds", SEG)] == 42
    assert samples[("cx_call_sl_threshold_seconds", SEG)] == 20
    assert samples[("cx_pipeline_events_late_total", (("topic", "cx.calls"),))] == 2
    assert samples[("cx_pipeline_events_invalid_total", (("reason", "invalid"), ("topic", "cx.calls")))] == 1
    assert ("cx_pipeline_events_invalid_total", (("reason", "late"), ("topic", "cx.calls"))) not in samples
    assert samples[("cx_pipeline_workers_alive", ())] == 1
    for partition, value in (("0", 4), ("1", 6)):
        key = ("cx_pipeline_partition_events_processed_total", (("partition", partition), ("topic", "cx.calls")))
        assert samples[key] == value
    assert samples[("cx_pipeline_broker_up", ())] == 1
    # a topic that never stored a batch has no "last processed" sample rather than 0
    assert ("cx_pipeline_last_processed_timestamp_seconds", (("topic", "cx.calls"),)) not in samples


def test_no_agent_label_in_prometheus() -> None:
    assert not any("agent" in dict(labels) for _, labels in scrape(snapshot({"handled": 1.0})))
