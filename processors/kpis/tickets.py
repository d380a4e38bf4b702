"""Ticket KPIs (resolution and first-response times, reopen, escalation, FCR, categories).

Pure: no clock, no I/O. Same conventions as ``processors/kpis/calls.py``: ratios 0–1,
``None`` for no data, ``ValueError`` for negative or non-finite counters, ratios of
*sums* so windows, queues and channels aggregate exactly.

Durations are kept two ways by the worker, both plain counters:

* a sum of seconds and a count (``ttr_seconds`` / ``resolved``), for the mean the seeds
  ask for (000 « Temps de résolution moyens », 004 « TTR = Somme de tous les temps de
  résolution / Nombre total de tickets résolus »);
* a histogram: one **non-cumulative** counter per bucket (``ttr_b0`` … ``ttr_bN``, bucket
  *i* holding durations in (``boundaries[i-1]``, ``boundaries[i]``], the last one
  everything above the last boundary), for the p50/p90 the catalog recommends (M16:
  "p50/p90 recommended"; a mean of durations hides the long tail: one 10-day ticket
  moves it more than a hundred 1-hour ones).
"""

from __future__ import annotations

import bisect
import functools
import numbers
from typing import Literal, Mapping, Sequence

from processors.kpis.calls import _check, _share, ratio

# Bucket upper bounds in seconds, with an implicit +Inf bucket after the last one.
# TTR: 5 min … 7 days, denser around 004's « quelques heures à 24-48 heures » target.
TTR_BOUNDARIES: tuple[float, ...] = (
    300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 259200, 604800,
)
# FRT: 1 min … 1 day (a first response is expected « rapide », 000).
FRT_BOUNDARIES: tuple[float, ...] = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400)

# 004 (TV15): « un TTR moyen de quelques heures à 24-48 heures est souvent un bon indicateur ».
TTR_GOOD_MAX_SECONDS = 86400.0
TTR_ACCEPTABLE_MAX_SECONDS = 172800.0

TtrDenominator = Literal["resolved", "requests"]
TTR_DENOMINATORS: tuple[str, ...] = ("resolved", "requests")

# KPI name (the ``/api/kpis`` field under ``windows.<window>.kpis``) -> what it is,
# its unit and the windowed Prometheus gauge that carries it.
TICKET_KPIS: dict[str, dict[str, str]] = {
    "ttr_mean_seconds": {
        "description": "Mean time to resolution: summed resolution seconds / resolved tickets "
        "(or / tickets created with ttr_denominator=requests)",
        "unit": "seconds",
        "metric": 'cx_ticket_ttr_seconds{stat="mean"}',
    },
    "ttr_p50_seconds": {
        "description": "Median time to resolution, estimated from histogram buckets",
        "unit": "seconds",
        "metric": 'cx_ticket_ttr_seconds{stat="p50"}',
    },
    "ttr_p90_seconds": {
        "description": "90th percentile of time to resolution, estimated from histogram buckets",
        "unit": "seconds",
        "metric": 'cx_ticket_ttr_seconds{stat="p90"}',
    },
    "frt_mean_seconds": {
        "description": "Mean first-response time: summed seconds from creation to first agent reply / first responses",
        "unit": "seconds",
        "metric": 'cx_ticket_frt_seconds{stat="mean"}',
    },
    "frt_p50_seconds": {
        "description": "Median first-response time, estimated from histogram buckets",
        "unit": "seconds",
        "metric": 'cx_ticket_frt_seconds{stat="p50"}',
    },
    "frt_p90_seconds": {
        "description": "90th percentile of first-response time, estimated from histogram buckets",
        "unit": "seconds",
        "metric": 'cx_ticket_frt_seconds{stat="p90"}',
    },
    "reopen_rate": {
        "description": "Reopened tickets / resolved tickets",
        "unit": "ratio",
        "metric": "cx_ticket_reopen_ratio",
    },
    "escalation_rate": {
        "description": "Escalated tickets / created tickets",
        "unit": "ratio",
        "metric": "cx_ticket_escalation_ratio",
    },
    "fcr": {
        "description": "Ticket first-contact resolution: tickets resolved with a single contact / resolved tickets",
        "unit": "ratio",
        "metric": "cx_ticket_fcr_ratio",
    },
    "top_categories": {
        "description": "Most frequent ticket categories in the window, count descending "
        "(complaints, recurring questions)",
        "unit": "tickets",
        "metric": "cx_tickets_by_category",
    },
}


# --------------------------------------------------------------------------- histograms


def _boundaries(boundaries: Sequence[float]) -> tuple[float, ...]:
    """Bucket bounds are finite, positive and strictly increasing; at least one.

    The worker asks once per ticket event with the same module-level tuples: those
    are checked once (a list is checked on every call)."""
    if isinstance(boundaries, tuple):
        return _checked_boundaries(boundaries)
    return _checked_boundaries.__wrapped__(boundaries)


@functools.lru_cache(maxsize=64)
def _checked_boundaries(boundaries: Sequence[float]) -> tuple[float, ...]:
    values = tuple(_check("boundary", bound) for bound in boundaries)
    if not values:
        raise ValueError("a histogram needs at least one finite boundary")
    if values[0] <= 0 or any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"boundaries must be positive and strictly increasing, got {list(boundaries)}")
    return values


def histogram_index(seconds: float, boundaries: Sequence[float]) -> int:
    """The bucket one duration falls in: index of the first boundary ≥ ``seconds``.

    Bucket *i* holds (``boundaries[i-1]``, ``boundaries[i]``] like Prometheus' ``le``
    buckets (a 300 s resolution is in the ``le="300"`` bucket); ``len(boundaries)`` is
    the +Inf bucket. The worker adds 1 to the field ``ttr_b{index}`` (non-cumulative),
    so buckets of different windows, queues and channels sum exactly.
    """
    return bisect.bisect_left(_boundaries(boundaries), _check("seconds", seconds))


def quantile(q: float, counts: Sequence[float], boundaries: Sequence[float]) -> float | None:
    """Estimate the ``q`` quantile of durations from per-bucket counts (p50: q = 0.5).

    Prometheus ``histogram_quantile`` semantics: find the bucket holding the rank
    ``q × total`` and interpolate linearly inside it, the first bucket starting at 0. If
    the rank falls in the +Inf bucket the last finite boundary is returned (a lower
    bound: "at least 7 days"). ``counts`` are the **non-cumulative** bucket counts,
    ``len(boundaries) + 1`` of them. ``None`` when there are no observations.

    This is an *estimate*, exact only to the bucket: the p90 of a window whose tickets
    all took 2–4 h is somewhere in (2 h, 4 h], read as if spread evenly. That is the
    price of counters: bucket counts add up exactly across minute/hour/day buckets,
    queues and channels (and PromQL can rebuild them), while an exact percentile would
    need every single duration kept and re-sorted for every window and segment.
    The mean, from summed seconds, stays exact.
    """
    if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in 0..1, got {q!r}")
    bounds = _boundaries(boundaries)
    values = [_check("count", count) for count in counts]
    if len(values) != len(bounds) + 1:
        raise ValueError(
            f"expected {len(bounds) + 1} bucket counts (one per boundary plus +Inf), got {len(values)}"
        )
    total = sum(values)
    if total == 0:
        return None
    rank = float(q) * total
    cumulative = 0.0
    for index, count in enumerate(values):
        before = cumulative
        cumulative += count
        # first bucket reaching the rank that holds anything (q = 0 skips empty leading buckets)
        if count > 0 and cumulative >= rank:
            if index == len(bounds):
                return bounds[-1]
            lower = bounds[index - 1] if index > 0 else 0.0
            upper = bounds[index]
            position = min(max((rank - before) / count, 0.0), 1.0)
            return lower + (upper - lower) * position
    return bounds[-1]  # rounding left the rank a hair above the total: it is the top


# --------------------------------------------------------------------------- durations


def mean_duration(*, total_seconds: float, count: float) -> float | None:
    """Mean of durations: ``total_seconds / count``; ``None`` when nothing was counted.

    FRT (« délai de première réponse », 000 FAQ, M17; no seed formula) uses it with the
    first-response seconds and the number of first responses.
    """
    total_seconds = _check("total_seconds", total_seconds)
    count = _check("count", count)
    if count == 0:
        return None
    return total_seconds / count


def ttr(
    *,
    total_seconds: float,
    resolved: float,
    requests: float,
    denominator: TtrDenominator = "resolved",
) -> float | None:
    """Mean time to resolution in seconds, over resolved tickets or over all requests (M16).

    The seeds disagree on the denominator (catalog §6 item 12):

    * ``resolved`` (**default**, setting ``ttr_denominator``), seed 004: « TTR = Somme de
      tous les temps de résolution / Nombre total de tickets résolus ». Tickets resolved
      in 2 h, 4 h and 30 h -> 36 h / 3 = 12 h. This is the mean time a resolved ticket
      took, the reading help-desk tools use;
    * ``requests``, seed 000: « Divisez le temps de résolution total par le nombre total de
      demandes clients ». The same three plus one request still open -> 36 h / 4 = 9 h.
      000 leaves the open request's time undefined, so this variant divides the
      *resolved* tickets' time by the requests created (``ticket.created``): open
      tickets count as 0 s, which flatters a growing backlog; read it next to the
      open-ticket gauges.

    Resolution time is counted at ``ticket.resolved`` (``created_at`` → resolution), the
    worker's choice between 004's « clôture » and 000's « résoudre complètement ».
    Requests are counted at creation, so in a window the two counters cover different
    tickets; the result is a duration and is not capped.
    """
    total_seconds = _check("total_seconds", total_seconds)
    resolved = _check("resolved", resolved)
    requests = _check("requests", requests)
    if denominator not in TTR_DENOMINATORS:
        raise ValueError(
            f"denominator must be one of {TTR_DENOMINATORS} (setting ttr_denominator), got {denominator!r}"
        )
    count = resolved if denominator == "resolved" else requests
    if count == 0:
        return None
    return total_seconds / count


def ttr_status(
    mean_seconds: float | None,
    good_max: float = TTR_GOOD_MAX_SECONDS,
    acceptable_max: float = TTR_ACCEPTABLE_MAX_SECONDS,
) -> str | None:
    """``good`` (≤ 24 h), ``acceptable`` (≤ 48 h) or ``poor`` for a mean TTR (TV15).

    004: « un TTR moyen de quelques heures à 24-48 heures est souvent un bon
    indicateur », and banks or technical services aim shorter for critical issues. The
    catalog's §5 encoding is "warn mean > 24 h, critical > 48 h", so both limits are
    inclusive here. ``None`` (no resolved ticket) -> ``None``.
    """
    if mean_seconds is None:
        return None
    mean_seconds = _check("mean_seconds", mean_seconds)
    good_max = _check("good_max", good_max)
    acceptable_max = _check("acceptable_max", acceptable_max)
    if good_max > acceptable_max:
        raise ValueError(f"good_max {good_max!r} must not exceed acceptable_max {acceptable_max!r}")
    if mean_seconds <= good_max:
        return "good"
    if mean_seconds <= acceptable_max:
        return "acceptable"
    return "poor"


# --------------------------------------------------------------------------- ratios


def reopen_rate(*, reopened: float, resolved: float) -> float | None:
    """Reopened tickets / resolved tickets (catalog §7: "handling of reopened tickets").

    A reopened ticket was resolved too early: it inflates the resolved count and makes
    TTR look better than it is. No seed names it. A reopen comes after its resolution,
    often in another window, so this is a cross-event share capped at 1.
    """
    return ratio(_check("reopened", reopened), _check("resolved", resolved))


def escalation_rate(*, escalated: float, created: float) -> float | None:
    """Escalated tickets / created tickets (M19; 004 « Moins d'escalades »).

    004 names fewer escalations as a benefit of fast resolution, without a formula.
    Escalation happens after creation (cross-event), so capped at 1. The worker should
    count a ticket's *first* escalation only, so a ticket escalated to levels 1, 2 and 3
    counts once.
    """
    return ratio(_check("escalated", escalated), _check("created", created))


def ticket_fcr(*, resolved_first_contact: float, resolved: float) -> float | None:
    """Ticket first-contact resolution: resolved with one contact / resolved (M12).

    004 speaks of « résolution au premier contact » for any channel; 002's formula is
    missing (catalog §6 item 13). On tickets the natural reading is ``contact_count == 1``
    on ``ticket.resolved``; both counters come from that same event, so more
    first-contact resolutions than resolutions raises ``ValueError``. Benchmarks (SQM,
    industry reference): average ≈ 67 %, world class ≥ 80 %.
    """
    return _share("resolved_first_contact", resolved_first_contact, "resolved", resolved)


def top_categories(counts: Mapping[str, float], k: int) -> list[tuple[str, float]]:
    """The ``k`` most frequent categories as ``(name, count)``, count descending, then name.

    003: « Si vous recevez beaucoup des mêmes questions et plaintes de clients, cela
    pourrait suggérer qu'il y a un problème » (M10): the top categories of the window
    show what customers keep asking about. Ties are broken by name so the list (and the
    ``cx_tickets_by_category`` series) is stable between scrapes; zero counts are
    dropped. ``k`` is ``ticket_top_categories`` (default 10), which also bounds label
    cardinality.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    checked = [(str(name), _check(f"count of {name!r}", count)) for name, count in counts.items()]
    ranked = sorted((item for item in checked if item[1] > 0), key=lambda item: (-item[1], item[0]))
    return ranked[: int(k)]


def bucket_fields(prefix: str, boundaries: Sequence[float]) -> tuple[str, ...]:
    """Field names of a histogram's per-bucket counters: ``ttr_b0`` … ``ttr_b12``."""
    return tuple(f"{prefix}_b{index}" for index in range(len(_boundaries(boundaries)) + 1))

