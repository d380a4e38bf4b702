"""A window's sum over all but its newest bucket, kept while those buckets stay the same.

Why: every snapshot sums each window from its buckets per segment: 60 minute buckets
for an hour, 24 hours for a day, 30 days for a month. With bucket stamps
(``BucketCache``) and the KPI memo in place, that summing was the largest single cost
left in a build, and it re-added closed buckets unchanged since the last build. In-order traffic
writes only a window's newest bucket, so the sum of the others is kept and reused
while every one of them is the very object the cache handed out last time (a bucket
whose stamp moved is parsed anew, so identity is "unchanged").

Exactness: the remembered prefix is summed in the same order as a full sum, and the
newest bucket is added last, so the result is the same float for float.
"""

from __future__ import annotations

from typing import Sequence

from processors.windows import Bucket

Parsed = dict[str, dict[str, float]]  # segment -> field -> value
Sums = dict[str, dict[str, float]]


def add_into(acc: Sums, parts: Sequence[Parsed]) -> Sums:
    for part in parts:
        for seg, fields in part.items():
            into = acc.setdefault(seg, {})
            for name, value in fields.items():
                into[name] = into.get(name, 0.0) + value
    return acc


class WindowSums:
    """Prefix sums by (stream, the window's older buckets); the least recently used go
    past ``limit`` (a build reads ~25 windows; a minute later each has a new key)."""

    def __init__(self, limit: int = 128) -> None:
        self.limit = limit
        self.hits = 0
        self.misses = 0
        self._entries: dict[tuple[str, tuple[Bucket, ...]], tuple[tuple[Parsed, ...], Sums]] = {}

    def window(self, stream: str, buckets: Sequence[Bucket], parts: Sequence[Parsed]) -> Sums:
        """The sum of ``parts`` (the parsed ``buckets``, oldest first) per segment."""
        if len(parts) < 2:
            return add_into({}, parts)
        key = (stream, tuple(buckets[:-1]))
        older = tuple(parts[:-1])
        entry = self._entries.pop(key, None)
        if entry is not None and len(entry[0]) == len(older) and all(a is b for a, b in zip(entry[0], older)):
            self.hits += 1
            prefix = entry[1]
        else:
            self.misses += 1
            prefix = add_into({}, older)
            entry = (older, prefix)  # holds the parts, so identity cannot be an id reused
        self._entries[key] = entry  # most recently used last
        while len(self._entries) > self.limit:
            del self._entries[next(iter(self._entries))]
        return add_into({seg: dict(fields) for seg, fields in prefix.items()}, parts[-1:])
