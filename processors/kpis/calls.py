"""Call-centre KPIs computed from summed counters. Pure: no clock, no I/O.

Every KPI here is a ratio of *sums* of counters (or a sum of seconds over a count),
never an average of per-bucket ratios: the worker adds one event's increments to
minute/hour/day buckets, a window is the sum of its buckets, and only then is a
ratio taken. That is the Prometheus writing-exporters advice ("export a counter
for each of the two components of the ratio") and it makes aggregation across
buckets, queues and channels exact. The Prometheus counters carry the same raw
numerators and denominators, so any variant below can be rebuilt in PromQL.

Conventions, shared with ``docs/kpis.md``:

* Ratios are floats in [0, 1] (never percentages).
* ``None`` means "no data": a zero denominator is not 0 % (an empty queue at 3 a.m.
  has no abandonment rate, it does not have a perfect one).
* A negative or non-finite input is a bug upstream (counters only grow) and raises
  ``ValueError``.
* Two kinds of shares are told apart, because the worker counts each event in the
  bucket of its *own* event time (see ``processors/fold.py``):

  - *same-event* shares, whose numerator is a subset of the denominator counted on
    the very same event (answered within T ⊆ answered, short abandons ⊆ abandons,
    transferred ⊆ handled, ...). If the numerator exceeds the denominator the data is
    wrong, and we raise ``ValueError`` rather than clamp it out of sight;
  - *cross-event* shares, whose numerator and denominator are different events of
    the same call (abandoned or answered vs offered, which was counted at
    ``call.queued``). In a short window a call offered just before the window's
    start can be answered or abandoned inside it, so the numerator can legitimately
    exceed the denominator for a while. Those are capped at 1 (and differences are
    clamped at 0); over a long window the skew vanishes.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

from cxpulse.settings import AbandonRateMode, ServiceLevelMode

AHT_COMPONENTS: tuple[str, ...] = ("talk", "hold", "acw")

# KPI name (the ``/api/kpis`` field under ``windows.<window>.kpis``) -> what it is,
# its unit and the windowed Prometheus gauge that carries it.
CALL_KPIS: dict[str, dict[str, str]] = {
    "abandon_rate": {
        "description": "Share of offered calls the caller abandoned before an agent answered "
        "(short abandons excluded from both sides by default)",
        "unit": "ratio",
        "metric": "cx_call_abandon_ratio",
    },
    "answer_rate": {
        "description": "Share of offered calls an agent answered (French call-centre « taux de décroché »)",
        "unit": "ratio",
        "metric": "cx_call_answer_ratio",
    },
    "service_level": {
        "description": "Share of calls answered within the queue's threshold T "
        "(abandons counted against by default)",
        "unit": "ratio",
        "metric": "cx_call_service_level_ratio",
    },
    "asa_seconds": {
        "description": "Average speed of answer: mean queue wait of answered calls",
        "unit": "seconds",
        "metric": "cx_call_asa_seconds",
    },
    "aht_seconds": {
        "description": "Average handle time: (talk + hold + after-call work) / handled calls, "
        "components configurable",
        "unit": "seconds",
        "metric": "cx_call_aht_seconds",
    },
    "transfer_rate": {
        "description": "Share of handled calls transferred at least once",
        "unit": "ratio",
        "metric": "cx_call_transfer_ratio",
    },
    "fcr_agent_flag": {
        "description": "First-contact resolution as marked by agents: resolved / calls with a flag",
        "unit": "ratio",
        "metric": 'cx_call_fcr_ratio{method="agent_flag"}',
    },
    "fcr_repeat_contact": {
        "description": "First-contact resolution by repeat contact: share of eligible calls not "
        "followed by a same-customer, same-reason call within N days (final after N days)",
        "unit": "ratio",
        "metric": 'cx_call_fcr_ratio{method="repeat_contact"}',
    },
    "repeat_contact_rate": {
        "description": "Share of eligible calls that repeat a same-customer, same-reason call "
        "from the previous N days (the live figure)",
        "unit": "ratio",
        "metric": "cx_call_repeat_contact_ratio",
    },
}

# Live gauges (``/api/kpis`` field under ``live``), read from the waiting-calls set.
CALL_LIVE: dict[str, dict[str, str]] = {
    "waiting": {
        "description": "Calls in queue right now (queued, neither answered nor abandoned yet)",
        "unit": "calls",
        "metric": "cx_calls_waiting",
    },
    "longest_wait_seconds": {
        "description": "How long the oldest call still in queue has been waiting (0 when none)",
        "unit": "seconds",
        "metric": "cx_call_longest_wait_seconds",
    },
}


# --------------------------------------------------------------------------- helpers


def _check(name: str, value: float) -> float:
    """Counters and durations are finite and never negative; anything else is a bug."""
    if type(value) is float or type(value) is int:
        # the worker's case, once or twice per event: spare it the numbers.Real ABC check
        if 0 <= value < math.inf:
            return float(value)
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return float(value)


def _subset(part_name: str, part: float, whole_name: str, whole: float) -> None:
    """A same-event subset cannot outnumber its whole: say so instead of clamping."""
    if part > whole:
        raise ValueError(f"inconsistent counters: {part_name}={part!r} > {whole_name}={whole!r}")


def _share(part_name: str, part: float, whole_name: str, whole: float) -> float | None:
    """Ratio of a same-event subset to its whole, validated."""
    part = _check(part_name, part)
    whole = _check(whole_name, whole)
    _subset(part_name, part, whole_name, whole)
    if whole == 0:
        return None
    return part / whole


# --------------------------------------------------------------------------- ratios


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` as a 0–1 share; ``None`` when the denominator is 0.

    This is the cross-event share (numerator and denominator counted at different
    events of a call, so window edges can put more of the former in a short window):
    the result is capped at 1. Negative or non-finite inputs raise ``ValueError``.
    """
    numerator = _check("numerator", numerator)
    denominator = _check("denominator", denominator)
    if denominator == 0:
        return None
    return min(numerator / denominator, 1.0)


def abandon_rate(
    *,
    offered: float,
    abandoned: float,
    short_abandoned: float,
    mode: AbandonRateMode = AbandonRateMode.EXCLUDE_SHORT,
) -> float | None:
    """Share of offered calls abandoned before an agent took them (seed 002, catalog M14).

    Seed 002 calls this « taux de décroché » and gives no formula (the image is lost).
    Denominator = calls that entered the queue (Amazon Connect: "contacts queued";
    Genesys: offered). Default ``exclude_short``: callers who hang up within the
    short-abandon threshold (default 5 s, per queue) are removed from both sides —
    common practice and Genesys' configurable short-abandon threshold, because such
    calls are misdials or IVR hang-ups, not service failures:
    ``(abandoned − short) / (offered − short)``. ``include_short``:
    ``abandoned / offered`` (Amazon Connect's plain reading).

    ``offered`` is counted at ``call.queued`` and abandons at ``call.abandoned``, so in a
    short window the two can be skewed: differences are clamped at 0 and the result
    is capped at 1. ``short_abandoned`` is a subset of ``abandoned`` (same event), so
    more short abandons than abandons raises ``ValueError``.
    """
    offered = _check("offered", offered)
    abandoned = _check("abandoned", abandoned)
    short_abandoned = _check("short_abandoned", short_abandoned)
    _subset("short_abandoned", short_abandoned, "abandoned", abandoned)
    mode = AbandonRateMode(mode)
    if mode is AbandonRateMode.INCLUDE_SHORT:
        return ratio(abandoned, offered)
    return ratio(max(abandoned - short_abandoned, 0.0), max(offered - short_abandoned, 0.0))


def answer_rate(*, offered: float, answered: float) -> float | None:
    """Share of offered calls an agent answered: ``answered / offered``.

    This is what French call-centre jargon usually calls « taux de décroché »; seed 002
    uses that name for the abandonment rate instead, so both figures are exported and
    neither is derived from the other (calls still waiting belong to neither).
    Cross-event share (answers are counted at ``call.answered``): capped at 1.
    """
    return ratio(_check("answered", answered), _check("offered", offered))


def service_level(
    *,
    answered: float,
    answered_within: float,
    abandoned: float,
    abandoned_within: float,
    short_abandoned: float,
    mode: ServiceLevelMode = ServiceLevelMode.ABANDONS_AGAINST,
) -> float | None:
    """Share of calls dealt with within the queue's threshold T (industry-reference).

    The seeds only say waiting is bad (M15); vendors disagree on abandons, so the
    three Cisco-style modes are offered:

    * ``abandons_against`` (default; Genesys' formula): abandons after the
      short-abandon threshold count as failures —
      ``answered_within / (answered + abandoned − short_abandoned)``. A caller who gave
      up after 3 minutes is the worst service there is; hiding it (``ignored``) would
      make an understaffed queue look fine.
    * ``abandons_ignored``: ``answered_within / answered``.
    * ``abandons_positive`` (Amazon Connect: a contact *removed* from queue within T is
      a success): ``(answered_within + abandoned_within) / (answered + abandoned)``.

    ``answered_within`` ⊆ ``answered``, ``abandoned_within`` ⊆ ``abandoned`` and
    ``short_abandoned`` ⊆ ``abandoned`` are counted on the same event, so each ratio is
    in [0, 1] by construction; a violation raises ``ValueError`` rather than being
    clamped away.
    """
    answered = _check("answered", answered)
    answered_within = _check("answered_within", answered_within)
    abandoned = _check("abandoned", abandoned)
    abandoned_within = _check("abandoned_within", abandoned_within)
    short_abandoned = _check("short_abandoned", short_abandoned)
    _subset("answered_within", answered_within, "answered", answered)
    _subset("abandoned_within", abandoned_within, "abandoned", abandoned)
    _subset("short_abandoned", short_abandoned, "abandoned", abandoned)
    mode = ServiceLevelMode(mode)
    if mode is ServiceLevelMode.ABANDONS_IGNORED:
        numerator, denominator = answered_within, answered
    elif mode is ServiceLevelMode.ABANDONS_POSITIVE:
        numerator, denominator = answered_within + abandoned_within, answered + abandoned
    else:
        numerator, denominator = answered_within, answered + abandoned - short_abandoned
    if denominator == 0:
        return None
    return numerator / denominator


def average_speed_of_answer(*, answer_wait_seconds: float, answered: float) -> float | None:
    """ASA: queue wait of answered calls / answered calls, in seconds (catalog M15).

    Amazon Connect's "average queue answer time". Abandoned calls' waits are kept in
    their own counter (``cx_call_abandon_wait_seconds_total``) and are not mixed in.
    """
    answer_wait_seconds = _check("answer_wait_seconds", answer_wait_seconds)
    answered = _check("answered", answered)
    if answered == 0:
        return None
    return answer_wait_seconds / answered


def average_handle_time(
    *,
    talk_seconds: float,
    hold_seconds: float,
    acw_seconds: float,
    handled: float,
    components: Sequence[str] = AHT_COMPONENTS,
) -> float | None:
    """AHT: sum of the chosen components / handled calls, in seconds (catalog M13).

    Industry AHT is talk + hold + after-call work, stamped when wrap-up completes (as
    Genesys does); ``handled`` is counted on that same event. Seed 002's « DMT » also
    lists research and data-entry time (both are after-call work here), transfer time
    (part of talk/hold of the transferred call) and « temps d'attente »; queue wait is
    not handle time, and it is reported separately as ASA. ``components`` (setting
    ``aht_components``) picks a subset, e.g. ``("talk", "hold")`` for tools that omit
    ACW; repeated names count once. An unknown or empty selection raises.
    """
    values = {
        "talk": _check("talk_seconds", talk_seconds),
        "hold": _check("hold_seconds", hold_seconds),
        "acw": _check("acw_seconds", acw_seconds),
    }
    handled = _check("handled", handled)
    if isinstance(components, str):
        raise ValueError(f"components must be a sequence of names, not the string {components!r}")
    chosen = set(components)
    unknown = chosen - set(values)
    if unknown or not chosen:
        raise ValueError(f"components must be a non-empty subset of talk, hold, acw; got {list(components)}")
    if handled == 0:
        return None
    return sum(values[name] for name in AHT_COMPONENTS if name in chosen) / handled


def transfer_rate(*, transferred: float, handled: float) -> float | None:
    """Share of handled calls transferred at least once (catalog M18).

    Seeds 000 (« redirections répétées ») and 002 (« temps de transfert ») name
    transfers without a formula. Both counters are taken from ``call.completed``, so
    ``transferred`` ⊆ ``handled``; more transfers per call are in
    ``cx_call_transfers_total`` (mean transfers per call = transfers / handled).
    """
    return _share("transferred", transferred, "handled", handled)


def fcr_agent_flag(*, resolved: float, flagged: float) -> float | None:
    """FCR as marked by agents: calls flagged resolved / calls carrying a flag (M12).

    Seed 002's FCR formula is missing; the industry's two readings are a resolution
    flag (agent or survey) and the absence of a repeat contact. This is the first one:
    available as soon as wrap-up ends, hence the live FCR. Calls without a flag are
    left out of both sides rather than counted as unresolved.
    """
    return _share("resolved", resolved, "flagged", flagged)


def repeat_contact_rate(*, repeat_contacts: float, eligible: float) -> float | None:
    """Share of eligible calls that repeat an earlier same-customer, same-reason call.

    Eligible = completed calls with a customer id and a contact reason. A call is a
    repeat if another eligible call of the same customer and reason happened within
    the previous ``fcr_repeat_window_days`` (default 7, the common choice among the
    1–30-day windows in use). It is known the moment the call ends, so it is the live
    counterpart of :func:`fcr_repeat_contact`. The worker counts it in the repeat's
    own buckets, where it is also eligible, so ``repeat_contacts`` ⊆ ``eligible``.
    """
    return _share("repeat_contacts", repeat_contacts, "eligible", eligible)


def fcr_repeat_contact(*, followed_by_repeat: float, eligible: float) -> float | None:
    """FCR by repeat contact: ``1 − followed_by_repeat / eligible`` (catalog M12).

    An eligible call is resolved at first contact if no same-customer, same-reason
    call follows within N days (SQM: average ≈ 67 %, world class ≥ 80 %). A later
    repeat is credited back to the *first* call's buckets, so the figure for a window
    can only fall until N days after the window's end, when it becomes final. Before
    that it is an upper bound; read ``repeat_contact_rate`` for the live signal.
    """
    share = _share("followed_by_repeat", followed_by_repeat, "eligible", eligible)
    return None if share is None else 1.0 - share


# --------------------------------------------------------------------------- per event


def is_short_abandon(wait_seconds: float, threshold: float) -> bool:
    """True if an abandon after ``wait_seconds`` is a short abandon (wait < threshold).

    Strictly under, so a threshold of 0 switches short abandons off (a zero-wait
    abandon is then a real one); matches ``QueueSettings.short_abandon_seconds``. Used by
    the worker when it classifies one ``call.abandoned`` event. A negative wait is a
    producer bug and raises ``ValueError`` (the event schema already rejects it).
    """
    return _check("wait_seconds", wait_seconds) < _check("threshold", threshold)


def within_threshold(wait_seconds: float, threshold: float) -> bool:
    """True if a call answered (or abandoned) after ``wait_seconds`` met T (wait ≤ T).

    The boundary counts as within: a call answered at exactly 20 s meets a 20 s target,
    the plain reading of "answered within T". Used by the worker for both
    ``call.answered`` (answered within SL) and ``call.abandoned`` (abandoned within SL).
    """
    return _check("wait_seconds", wait_seconds) <= _check("threshold", threshold)


def longest_wait(now_epoch: float, oldest_queued_epoch: float | None) -> float:
    """Seconds the oldest waiting call has been in queue; 0 when nobody waits.

    Amazon Connect's "oldest contact in queue" and Twilio Flex's "longest wait". A
    queued time in the future (clock skew between producer and exporter) reads as 0,
    never as a negative wait.
    """
    if not math.isfinite(now_epoch):
        raise ValueError(f"now_epoch must be finite, got {now_epoch!r}")
    if oldest_queued_epoch is None:
        return 0.0
    if not math.isfinite(oldest_queued_epoch):
        raise ValueError(f"oldest_queued_epoch must be finite, got {oldest_queued_epoch!r}")
    return max(float(now_epoch) - float(oldest_queued_epoch), 0.0)
