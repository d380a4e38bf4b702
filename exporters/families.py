"""Builders for the metric shapes every stream repeats: counters per segment, gauges per
segment and window. A value of ``None`` (no data in the window) is left out."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

Getter = Callable[[dict[str, Any]], float | None]


def labels_of(segment: dict[str, Any], dims: Sequence[str]) -> list[str]:
    return [str(segment[d]) for d in dims]


def counter(
    name: str, help_text: str, segments: Iterable[dict[str, Any]], dims: Sequence[str], field: str,
    extra: dict[str, str] | None = None, family: CounterMetricFamily | None = None,
) -> CounterMetricFamily:
    """All-time totals of ``field``; ``extra`` labels let several fields share one family."""
    extra = extra or {}
    family = family or CounterMetricFamily(name, help_text, labels=[*dims, *extra])
    for seg in segments:
        family.add_metric([*labels_of(seg, dims), *extra.values()], seg["totals"].get(field, 0.0))
    return family


def windowed(
    name: str, help_text: str, segments: Iterable[dict[str, Any]], dims: Sequence[str], windows: Sequence[str],
    getter: Getter, extra: dict[str, str] | None = None, family: GaugeMetricFamily | None = None,
) -> GaugeMetricFamily:
    extra = extra or {}
    family = family or GaugeMetricFamily(name, help_text, labels=[*dims, "window", *extra])
    tail = list(extra.values())
    for seg in segments:
        head = labels_of(seg, dims)  # once per segment, not per window: ~2,000 samples a build
        entries = seg["windows"]
        for window in windows:
            value = getter(entries[window])
            if value is not None:
                family.add_metric([*head, window, *tail], value)
    return family


def live(name: str, help_text: str, segments: Iterable[dict[str, Any]], dims: Sequence[str], field: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=list(dims))
    for seg in segments:
        family.add_metric(labels_of(seg, dims), seg["live"][field])
    return family


def kpi(name: str) -> Getter:
    return lambda entry: entry["kpis"][name]


def count(name: str) -> Getter:
    return lambda entry: entry["counts"].get(name, 0.0)
