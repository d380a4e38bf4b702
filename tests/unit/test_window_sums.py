"""WindowSums: a remembered prefix gives the full sum, float for float, and is dropped
as soon as one of its buckets is a different object."""

from __future__ import annotations

from processors.window_sums import WindowSums, add_into
from processors.windows import Bucket

BUCKETS = [Bucket("m", 60 * i) for i in range(6)]


def parts(step: int) -> list[dict[str, dict[str, float]]]:
    # 0.1-ish values: a different order of addition would show in the last bits
    return [{"sales|voice": {"offered": 0.1 * (i + 1), "talk_seconds": 1.7 + i / 3}, f"s{i % 2}|chat": {"offered": 0.3}}
            for i in range(len(BUCKETS) - 1)] + [{"sales|voice": {"offered": 0.7 + step / 7}}]


def test_the_sum_is_the_full_sum_float_for_float_while_the_newest_bucket_moves() -> None:
    sums, older = WindowSums(), parts(0)[:-1]
    for step in range(5):
        now = older + parts(step)[-1:]
        assert sums.window("calls", BUCKETS, now) == add_into({}, now)
    assert (sums.misses, sums.hits) == (1, 4)


def test_an_older_bucket_read_anew_is_summed_again() -> None:
    sums, first = WindowSums(), parts(0)
    sums.window("calls", BUCKETS, first)
    late = list(first)
    late[1] = {"sales|voice": {"offered": 9.0}}  # a late event: that bucket's stamp moved
    assert sums.window("calls", BUCKETS, late)["sales|voice"]["offered"] == add_into({}, late)["sales|voice"]["offered"]
    same_content = [dict(p) for p in late]  # equal but new objects: not trusted
    sums.window("calls", BUCKETS, same_content)
    assert sums.hits == 0 and sums.misses == 3


def test_streams_and_windows_are_kept_apart() -> None:
    sums = WindowSums()
    sums.window("calls", BUCKETS, parts(0))
    other = [{"x|y": {"n": 1.0}}] * len(BUCKETS)
    assert sums.window("surveys", BUCKETS, other) == {"x|y": {"n": float(len(BUCKETS))}}
    assert sums.window("calls", BUCKETS[1:], parts(0)[1:]) == add_into({}, parts(0)[1:])
    assert sums.hits == 0


def test_what_a_caller_does_to_a_result_does_not_reach_the_memo() -> None:
    sums, now = WindowSums(), parts(0)
    sums.window("calls", BUCKETS, now)["sales|voice"]["offered"] = -1.0
    assert sums.window("calls", BUCKETS, now) == add_into({}, now)


def test_the_least_recently_used_go_past_the_limit() -> None:
    sums = WindowSums(limit=2)
    windows = [[Bucket("m", 60 * (i + k)) for i in range(3)] for k in range(3)]
    data = [[{"a": {"n": 1.0}}] * 3 for _ in range(3)]
    sums.window("calls", windows[0], data[0])
    sums.window("calls", windows[1], data[1])
    sums.window("calls", windows[0], data[0])  # used again: now the newest
    sums.window("calls", windows[2], data[2])  # pushes out windows[1]
    sums.window("calls", windows[0], data[0])
    sums.window("calls", windows[1], data[1])
    assert (sums.hits, sums.misses) == (2, 4)


def test_one_bucket_needs_no_memo() -> None:
    sums = WindowSums()
    assert sums.window("calls", BUCKETS[:1], parts(0)[:1]) == add_into({}, parts(0)[:1])
    assert len(sums._entries) == 0
