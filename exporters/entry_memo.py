"""A window's entry (its counts and KPIs), remembered by the counts it was computed from.

Why: a snapshot computes the KPIs of every segment in every window, and that was about
40 % of a build's CPU at 2,000 series (docs/performance.md). Between two builds at 5k
events/s over half the windows have not moved: closed hours, quiet segments, windows a
stream's events never reach. The KPI functions are pure, so an entry computed from
the same counts, under the same settings, is the same entry; this keeps the entries
of the last two builds and computes only the rest.

Entries are shared between snapshots (and between windows with equal counts inside
one), so a snapshot's window entries are read-only: nothing mutates them.
"""

from __future__ import annotations

from typing import Any

from cxpulse.settings import Settings
from exporters.views import Counts, StreamView

Entry = dict[str, Any]


def window_entry(counts: Counts, settings: Settings, view: StreamView) -> Entry:
    full = view.counts(counts)
    return {"counts": full, "kpis": view.kpis(full, settings)}


class EntryMemo:
    """Entries used by the current build and the one before; older ones are dropped at
    each :meth:`turn`, so it holds what the windows show now, not history."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hits = 0
        self.misses = 0
        self._now: dict[tuple[str, frozenset[tuple[str, float]]], Entry] = {}
        self._before: dict[tuple[str, frozenset[tuple[str, float]]], Entry] = {}

    def entry(self, view: StreamView, counts: Counts) -> Entry:
        # a frozenset: the same counts summed in another bucket order are the same key
        key = (view.stream, frozenset(counts.items()))
        out = self._now.get(key) or self._before.get(key)  # an entry is never empty
        if out is None:
            self.misses += 1
            out = window_entry(counts, self.settings, view)
        else:
            self.hits += 1
        self._now[key] = out
        return out

    def turn(self) -> None:
        """A build is done: what it did not use is forgotten after the next one."""
        self._before, self._now = self._now, {}
