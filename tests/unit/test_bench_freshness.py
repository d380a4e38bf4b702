"""The freshness step's arithmetic: which read first shows a published slice."""

from __future__ import annotations

from bench.cxpulse_runs import _visibility, processed_by_partition


def test_a_lagging_partition_is_not_hidden_by_one_that_keeps_up() -> None:
    # two slices of 5 events, one per partition, due at t=100; partition 0 is stored
    # at once and then runs ahead with 5 more events, partition 1 lags
    timeline = [[100.0, "cx.calls", 0, 5], [100.0, "cx.calls", 1, 5]]
    reads = [
        (100.1, {"cx.calls|0": 10.0}),  # the topic's 10 would cover both slices here
        (100.5, {"cx.calls|0": 10.0, "cx.calls|1": 4.0}),
        (100.9, {"cx.calls|0": 10.0, "cx.calls|1": 5.0}),
    ]
    latencies, by_topic, by_slice, unseen = _visibility(timeline, reads, {"cx.calls|0": 5, "cx.calls|1": 5})
    assert sorted(round(x, 3) for x in latencies) == [0.1] * 5 + [0.9] * 5
    assert len(by_topic["cx.calls"]) == 10 and list(by_slice) == [0]
    assert unseen == 0


def test_reads_before_a_slice_was_due_do_not_count_and_unseen_events_are_reported() -> None:
    timeline = [[100.0, "cx.carts", 2, 3], [100.5, "cx.carts", 2, 7]]
    reads = [(99.0, {"cx.carts|2": 7.0}), (100.2, {"cx.carts|2": 3.0})]
    latencies, _, _, unseen = _visibility(timeline, reads, {"cx.carts|2": 7})
    assert [round(x, 3) for x in latencies] == [0.2] * 3
    assert unseen == 4


def test_partition_counts_are_read_from_metrics_text() -> None:
    text = (
        "# TYPE cx_pipeline_partition_events_processed_total counter\n"
        'cx_pipeline_partition_events_processed_total{partition="0",topic="a.calls"} 12.0\n'
        'cx_pipeline_partition_events_processed_total{partition="3",topic="a.calls"} 4.0\n'
        'cx_pipeline_events_processed_total{topic="a.calls"} 16.0\n'
    )
    assert processed_by_partition(text) == {"a.calls|0": 12.0, "a.calls|3": 4.0}
