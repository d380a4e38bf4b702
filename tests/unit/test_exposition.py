"""exporters/exposition.py must write exactly what prometheus_client.generate_latest writes."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)

from exporters.exposition import generate


class _Fixed:
    def __init__(self, metrics: list) -> None:  # type: ignore[type-arg]
        self.metrics = metrics

    def collect(self):  # type: ignore[no-untyped-def]
        return iter(self.metrics)


def _library(metrics: list) -> bytes:  # type: ignore[type-arg]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(metrics))
    return generate_latest(registry)


def _families() -> list:  # type: ignore[type-arg]
    awkward = ['plain', 'with "quotes"', "back\\slash", "new\nline", "ünïcødé ☎", "", "a,b=c}"]
    gauge = GaugeMetricFamily("cx_test_ratio", 'Help with \\ and "quotes"\nand a newline', labels=["queue", "channel"])
    for i, value in enumerate(awkward):
        gauge.add_metric([value, f"ch{i}"], [0.0, -0.0, 1.5, 1e7, 123456789.0, math.inf, -math.inf][i])
    gauge.add_metric(["nan", "x"], math.nan)
    counter = CounterMetricFamily("cx_test_events", "Counted", labels=["topic"], created=1.7e9)
    counter.add_metric(["cx.calls"], 12, created=1.7e9)
    counter.add_metric(["cx.tickets"], 3.25, timestamp=1_700_000_000.123)
    histogram = HistogramMetricFamily("cx_test_seconds", "Histogram", labels=["queue"])
    histogram.add_metric(["q"], buckets=[("1.0", 2), ("5.0", 3), ("+Inf", 4)], sum_value=7.5)
    gauge_histogram = GaugeHistogramMetricFamily("cx_test_gh", "Gauge histogram", labels=["le_not"])
    gauge_histogram.add_metric(["a"], buckets=[("1.0", 1), ("+Inf", 2)], gsum_value=3.0)
    summary = SummaryMetricFamily("cx_test_summary", "Summary", count_value=3, sum_value=1.5)
    info = InfoMetricFamily("cx_test_build", "Build info", value={"version": "1.2", "commit": "abc"})
    stateset = StateSetMetricFamily("cx_test_state", "State", value={"up": True, "down": False})
    unknown = UnknownMetricFamily("cx_test_unknown", "Unknown", value=2)
    odd_name = GaugeMetricFamily("cx.test-odd name", "A name outside the legacy set", value=1)
    empty = GaugeMetricFamily("cx_test_empty", "No samples", labels=["queue"])
    return [gauge, counter, histogram, gauge_histogram, summary, info, stateset, unknown, odd_name, empty]


def test_every_family_kind_and_awkward_label_values_render_byte_for_byte() -> None:
    families = _families()
    assert generate(families) == _library(families)
    assert generate(families) == _library(families)  # rendered label sets reused


def test_the_exporters_own_families_render_byte_for_byte() -> None:
    from tests.unit.test_collector import snapshot

    from exporters.collector import SnapshotCollector

    families = list(SnapshotCollector(snapshot({"offered": 10, "answered": 8, "abandoned": 2})).collect())
    assert generate(families) == _library(families)
