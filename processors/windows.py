"""Event-time buckets and the windows read from them. Pure: no clock, no I/O.

Aggregates are stored per bucket (minute, hour, day, aligned on UTC epoch
multiples) so any window is a sum of buckets, and sums of counters are exact where
averages of ratios are not. A rolling window of ``n`` units is the bucket holding
``now`` plus the ``n - 1`` before it: "5m" covers between 4 and 5 minutes, the
current minute growing as events arrive (the same trade-off Amazon Connect's
trailing windows make). "today" runs from local midnight in the configured zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

RESOLUTIONS: dict[str, int] = {"m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Bucket:
    res: str
    start: int  # epoch seconds, a multiple of RESOLUTIONS[res]

    @property
    def end(self) -> int:
        return self.start + RESOLUTIONS[self.res]


# name -> (count, resolution); "today" is computed from the zone.
ROLLING_WINDOWS: dict[str, tuple[int, str]] = {
    "5m": (5, "m"),
    "15m": (15, "m"),
    "1h": (60, "m"),
    "24h": (24, "h"),
    "7d": (7, "d"),
    "30d": (30, "d"),
}


def bucket_of(ts: float, res: str) -> Bucket:
    size = RESOLUTIONS[res]
    return Bucket(res, int(ts // size) * size)


def buckets_for_event(ts: float) -> list[Bucket]:
    """Every bucket one event is added to: one per resolution."""
    return [bucket_of(ts, res) for res in RESOLUTIONS]


def rolling(now: float, count: int, res: str) -> list[Bucket]:
    last = bucket_of(now, res).start
    size = RESOLUTIONS[res]
    return [Bucket(res, last - i * size) for i in range(count - 1, -1, -1)]


def local_midnight(now: float, zone: ZoneInfo) -> float:
    local = datetime.fromtimestamp(now, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # fold=0 picks the first occurrence if midnight is ambiguous; a zone whose
    # midnight does not exist (DST at 00:00) normalises forward through UTC.
    return midnight.astimezone(timezone.utc).timestamp()


def cover(start: float, now: float) -> list[Bucket]:
    """Fewest buckets whose union is [start, end of the bucket holding now).

    ``start`` must be minute-aligned. Minute buckets lead up to the first hour
    boundary, hour buckets follow; days are not used because "today" never spans one.
    """
    if start % 60:
        raise ValueError(f"window start {start} is not minute-aligned")
    out: list[Bucket] = []
    t = int(start)
    end_minute = bucket_of(now, "m").end
    while t < end_minute and t % 3600:
        out.append(Bucket("m", t))
        t += 60
    while t < end_minute:
        out.append(Bucket("h", t))
        t += 3600
    return out


def window_buckets(window: str, now: float, zone: ZoneInfo) -> list[Bucket]:
    if window == "today":
        return cover(local_midnight(now, zone), now)
    try:
        count, res = ROLLING_WINDOWS[window]
    except KeyError:
        raise ValueError(f"unknown window {window!r}; known: {', '.join([*ROLLING_WINDOWS, 'today'])}") from None
    return rolling(now, count, res)


def window_span(window: str, now: float, zone: ZoneInfo) -> tuple[float, float]:
    """[start, end) in epoch seconds of the time the window's buckets cover."""
    buckets = window_buckets(window, now, zone)
    return float(buckets[0].start), float(buckets[-1].end)


def expire_at(bucket: Bucket, ttl_seconds: int) -> int:
    """Buckets expire relative to their own end, so every write sets the same deadline."""
    return bucket.end + ttl_seconds
