"""Prometheus metric families built fresh from a snapshot on every scrape.

Follows the writing-exporters guide: raw counters (``_total``) so ratios can be
rebuilt exactly in PromQL, windowed gauges for the wall, base units (seconds,
ratios 0–1), no sample timestamps, and only queue/channel labels (agent detail
would blow up cardinality; it belongs in the API). A ratio with no denominator in
its window is left out rather than exported as 0 or NaN.
"""

from __future__ import annotations

from typing import Any, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporters.families import count, counter, kpi, labels_of, live, windowed
from exporters.stream_metrics import cart_metrics, survey_metrics, ticket_metrics
from exporters.views import VIEWS

# counter field -> (metric name without _total, help)
CALL_COUNTERS: dict[str, tuple[str, str]] = {
    "offered": ("cx_calls_offered", "Calls that entered a queue"),
    "answered": ("cx_calls_answered", "Calls answered by an agent"),
    "answered_within_sl": ("cx_calls_answered_within_sl", "Calls answered within the queue's service-level threshold"),
    "abandoned": ("cx_calls_abandoned", "Calls abandoned by the caller before an answer"),
    "short_abandoned": ("cx_calls_short_abandoned", "Abandons within the short-abandon threshold"),
    "abandoned_within_sl": ("cx_calls_abandoned_within_sl", "Abandons within the service-level threshold"),
    "handled": ("cx_calls_handled", "Calls whose wrap-up completed"),
    "transferred": ("cx_calls_transferred", "Handled calls with at least one transfer"),
    "transfers": ("cx_call_transfers", "Transfers over all handled calls"),
    "answer_wait_seconds": ("cx_call_answer_wait_seconds", "Queue wait of answered calls"),
    "abandon_wait_seconds": ("cx_call_abandon_wait_seconds", "Queue wait of abandoned calls"),
    "talk_seconds": ("cx_call_talk_seconds", "Talk time of handled calls"),
    "hold_seconds": ("cx_call_hold_seconds", "Hold time of handled calls"),
    "acw_seconds": ("cx_call_acw_seconds", "After-call work of handled calls"),
    "fcr_flagged": ("cx_calls_fcr_flagged", "Handled calls with an agent resolution flag"),
    "fcr_resolved": ("cx_calls_fcr_resolved", "Handled calls the agent marked resolved"),
    "fcr_eligible": ("cx_calls_fcr_eligible", "Handled calls with customer and reason (repeat-contact FCR base)"),
    "repeat_contacts": ("cx_calls_repeat_contacts", "Calls that repeat a contact of the same customer and reason"),
    "followed_by_repeat": ("cx_calls_followed_by_repeat", "Calls followed by a repeat contact within the FCR window"),
}

# api kpi name -> (gauge name, help, extra labels)
CALL_GAUGES: dict[str, tuple[str, str, dict[str, str]]] = {
    "abandon_rate": ("cx_call_abandon_ratio", "Abandonment rate in the window", {}),
    "answer_rate": ("cx_call_answer_ratio", "Answered / offered in the window", {}),
    "service_level": ("cx_call_service_level_ratio", "Service level in the window", {}),
    "asa_seconds": ("cx_call_asa_seconds", "Average speed of answer in the window", {}),
    "aht_seconds": ("cx_call_aht_seconds", "Average handle time in the window", {}),
    "transfer_rate": ("cx_call_transfer_ratio", "Handled calls transferred, share", {}),
    "fcr_agent_flag": ("cx_call_fcr_ratio", "First-contact resolution", {"method": "agent_flag"}),
    "fcr_repeat_contact": ("cx_call_fcr_ratio", "First-contact resolution", {"method": "repeat_contact"}),
    "repeat_contact_rate": ("cx_call_repeat_contact_ratio", "Share of calls that repeat an earlier contact", {}),
}
WINDOW_KINDS = ("offered", "answered", "abandoned", "short_abandoned", "handled")


def call_metrics(snapshot: dict[str, Any]) -> Iterable[Metric]:
    view = VIEWS["calls"]
    segments, dims, windows = snapshot["calls"]["segments"], view.dims, view.windows
    for field, (name, help_text) in CALL_COUNTERS.items():
        yield counter(name, help_text, segments, dims, field)
    gauges: dict[str, GaugeMetricFamily] = {}
    for api_name, (name, help_text, extra) in CALL_GAUGES.items():
        family = gauges.get(name) or GaugeMetricFamily(name, help_text, labels=[*dims, "window", *extra])
        gauges[name] = windowed(name, help_text, segments, dims, windows, kpi(api_name), extra, family)
    yield from gauges.values()
    in_window = GaugeMetricFamily("cx_calls_in_window", "Call counts in the window", labels=[*dims, "window", "kind"])
    for kind in WINDOW_KINDS:
        windowed("", "", segments, dims, windows, count(kind), {"kind": kind}, in_window)
    yield in_window
    yield live("cx_calls_waiting", "Calls waiting in queue now", segments, dims, "waiting")
    yield live("cx_call_longest_wait_seconds", "Wait of the oldest call in queue now", segments, dims,
               "longest_wait_seconds")
    thresholds = GaugeMetricFamily(
        "cx_call_sl_threshold_seconds", "Service-level threshold T configured for the queue", labels=list(dims)
    )
    for seg in segments:
        thresholds.add_metric(labels_of(seg, dims), seg["thresholds"]["sl_threshold_seconds"])
    yield thresholds


def pipeline_metrics(snapshot: dict[str, Any]) -> Iterable[Metric]:
    topics = snapshot["pipeline"]["topics"]
    simple = {
        "processed": ("cx_pipeline_events_processed", "Events folded into Redis"),
        "duplicate": ("cx_pipeline_events_duplicate", "Events whose event_id was already counted"),
        "replayed": ("cx_pipeline_events_replayed", "Messages redelivered after a restart (already counted)"),
    }
    for field, (name, help_text) in simple.items():
        family = CounterMetricFamily(name, help_text, labels=["topic"])
        for topic, entry in topics.items():
            family.add_metric([topic], entry[field])
        yield family

    # a topic's count is a watermark that can hide a partition that lags or stopped
    by_partition = CounterMetricFamily(
        "cx_pipeline_partition_events_processed", "Events folded into Redis, per source partition",
        labels=["topic", "partition"],
    )
    for topic, counts in sorted(snapshot["pipeline"].get("partitions", {}).items()):
        for partition, value in counts.items():
            by_partition.add_metric([topic, partition], value)
    yield by_partition

    invalid = CounterMetricFamily(
        "cx_pipeline_events_invalid", "Events dead-lettered as invalid, by reason", labels=["topic", "reason"]
    )
    late = CounterMetricFamily("cx_pipeline_events_late", "Events dead-lettered as later than allowed", labels=["topic"])
    for topic, entry in topics.items():
        late.add_metric([topic], entry["rejected"].get("late", 0.0))
        for reason, value in sorted(entry["rejected"].items()):
            if reason != "late":
                invalid.add_metric([topic, reason], value)
    yield invalid
    yield late

    for field, name, help_text in (
        ("last_event_ts", "cx_pipeline_last_event_timestamp_seconds", "Newest event time folded, per topic"),
        ("last_processed_ts", "cx_pipeline_last_processed_timestamp_seconds", "When the worker last stored a batch"),
    ):
        family = GaugeMetricFamily(name, help_text, labels=["topic"])
        for topic, entry in topics.items():
            if entry[field] is not None:
                family.add_metric([topic], entry[field])
        yield family

    pipeline = snapshot["pipeline"]
    yield GaugeMetricFamily(
        "cx_pipeline_workers_alive", "Worker processes with a heartbeat in the last 10 s", value=pipeline["workers_alive"]
    )
    broker = pipeline["broker"]
    if broker["up"] is not None:
        yield GaugeMetricFamily("cx_pipeline_broker_up", "1 if a worker reached the broker in the last 10 s",
                                value=1 if broker["up"] else 0)
        yield GaugeMetricFamily("cx_pipeline_broker_last_ok_timestamp_seconds",
                                "Last time a worker's metadata probe got an answer", value=broker["last_ok_ts"])
    beats = [entry["last_heartbeat_ts"] for entry in pipeline["workers"].values()]
    if beats:
        yield GaugeMetricFamily(
            "cx_pipeline_worker_last_heartbeat_timestamp_seconds", "Newest worker heartbeat", value=max(beats)
        )


class SnapshotCollector(Collector):
    """A collector over one snapshot: the HTTP handler builds one per scrape."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        yield from call_metrics(self.snapshot)
        yield from survey_metrics(self.snapshot)
        yield from ticket_metrics(self.snapshot)
        yield from cart_metrics(self.snapshot)
        yield from pipeline_metrics(self.snapshot)
