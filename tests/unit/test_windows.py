from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.windows import (
    RESOLUTIONS,
    Bucket,
    bucket_of,
    buckets_for_event,
    cover,
    expire_at,
    local_midnight,
    window_buckets,
)

UTC = ZoneInfo("UTC")


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_bucket_alignment() -> None:
    t = ts("2026-11-22T10:17:42+00:00")
    assert bucket_of(t, "m") == Bucket("m", int(ts("2026-11-22T10:17:00+00:00")))
    assert bucket_of(t, "h") == Bucket("h", int(ts("2026-11-22T10:00:00+00:00")))
    assert bucket_of(t, "d") == Bucket("d", int(ts("2026-11-22T00:00:00+00:00")))
    assert [b.res for b in buckets_for_event(t)] == ["m", "h", "d"]


def test_rolling_window_is_current_bucket_plus_previous() -> None:
    now = ts("2026-11-22T10:17:42+00:00")
    five = window_buckets("5m", now, UTC)
    assert [b.start for b in five] == [int(ts(f"2026-11-22T10:{m}:00+00:00")) for m in (13, 14, 15, 16, 17)]
    assert len(window_buckets("1h", now, UTC)) == 60
    assert window_buckets("7d", now, UTC)[-1] == bucket_of(now, "d")


def test_today_in_utc_is_whole_hours() -> None:
    now = ts("2026-11-22T10:17:42+00:00")
    buckets = window_buckets("today", now, UTC)
    assert all(b.res == "h" for b in buckets)
    assert buckets[0].start == ts("2026-11-22T00:00:00+00:00")
    assert buckets[-1] == bucket_of(now, "h")


def test_today_in_paris_starts_at_local_midnight() -> None:
    paris = ZoneInfo("Europe/Paris")  # UTC+1 in November
    now = ts("2026-11-22T10:17:42+00:00")
    buckets = window_buckets("today", now, paris)
    assert buckets[0].start == ts("2026-11-21T23:00:00+00:00")
    assert len(buckets) == 12  # 23:00 .. 10:00 UTC


def test_today_in_a_half_hour_zone_uses_minutes_up_to_the_hour() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+5:30: local midnight is 18:30 UTC
    now = ts("2026-11-22T10:17:42+00:00")
    buckets = window_buckets("today", now, kolkata)
    minutes = [b for b in buckets if b.res == "m"]
    assert len(minutes) == 30 and minutes[0].start == ts("2026-11-21T18:30:00+00:00")
    assert buckets[30] == Bucket("h", int(ts("2026-11-21T19:00:00+00:00")))


def test_today_just_after_midnight_is_one_bucket() -> None:
    now = ts("2026-11-22T00:00:05+00:00")
    assert window_buckets("today", now, UTC) == [Bucket("h", int(ts("2026-11-22T00:00:00+00:00")))]


def test_dst_day_midnight() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 2026-03-29: clocks go forward at 02:00 local; midnight is still 23:00 UTC the day before
    now = ts("2026-03-29T12:00:00+00:00")
    assert local_midnight(now, paris) == ts("2026-03-28T23:00:00+00:00")


def test_unknown_window_and_unaligned_cover_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown window"):
        window_buckets("3m", 0.0, UTC)
    with pytest.raises(ValueError, match="minute-aligned"):
        cover(30.0, 120.0)


def test_expiry_is_relative_to_bucket_end() -> None:
    b = Bucket("m", 600)
    assert expire_at(b, 3600) == 600 + 60 + 3600


@given(start_min=st.integers(0, 10_000_000), span=st.integers(0, 3 * 24 * 60 * 60))
def test_cover_tiles_the_range_exactly(start_min: int, span: int) -> None:
    start = start_min * 60
    now = start + span
    buckets = cover(start, now)
    assert buckets[0].start == start
    for before, after in zip(buckets, buckets[1:]):
        assert before.end == after.start  # no gap, no overlap
    assert buckets[-1].start <= now < buckets[-1].end
    assert all(b.start % RESOLUTIONS[b.res] == 0 for b in buckets)


@given(st.floats(0, 4e9), st.sampled_from(["5m", "15m", "1h", "today"]))
def test_every_window_contains_now(now: float, window: str) -> None:
    buckets = window_buckets(window, now, ZoneInfo("America/New_York"))
    assert buckets[-1].start <= now < buckets[-1].end


def test_utc_epoch_day_buckets_do_not_depend_on_zone() -> None:
    t = datetime(2026, 11, 22, 23, 30, tzinfo=timezone.utc).timestamp()
    assert bucket_of(t, "d").start == datetime(2026, 11, 22, tzinfo=timezone.utc).timestamp()
