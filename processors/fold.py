"""Turn one validated event into the Redis update it stands for, without touching Redis.

An ``Update`` is plain data: counter increments for the event's segment, added to
the event's minute/hour/day buckets and to the all-time totals, plus a few ordered
operations for live state (the waiting-calls set, the repeat-contact memory). The
store applies a whole batch of them in one Lua call, guarded by the event's dedupe
key, which is what makes a replay after a crash harmless. Keeping this pure means
every KPI's bookkeeping is testable without a broker or Redis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel

from cxpulse.settings import Settings
from processors import keys
from processors.kpis.calls import is_short_abandon, within_threshold
from processors.windows import buckets_for_event, expire_at
from streams.events import CallAbandoned, CallAnswered, CallCompleted, CallQueued

# Counter fields per stream, in export order. A field is summed across buckets.
CALL_FIELDS = (
    "offered",
    "answered",
    "answered_within_sl",
    "answer_wait_seconds",
    "abandoned",
    "short_abandoned",
    "abandoned_within_sl",
    "abandon_wait_seconds",
    "handled",
    "talk_seconds",
    "hold_seconds",
    "acw_seconds",
    "transferred",
    "transfers",
    "fcr_flagged",
    "fcr_resolved",
    "fcr_eligible",
    "repeat_contacts",
    "followed_by_repeat",
)


@dataclass(slots=True)
class Update:
    event_id: str
    fingerprint: str
    dedupe_expire_at: int
    stream: str
    segment: str
    ts: float
    targets: list[list[Any]] = field(default_factory=list)  # [key, expire_at] to add counts to
    counts: dict[str, float] = field(default_factory=dict)
    ops: list[list[Any]] = field(default_factory=list)


def fingerprint(event: BaseModel) -> str:
    """Content hash: tells a replay or retry (same content) from a conflicting reuse of an id."""
    return hashlib.blake2b(event.model_dump_json().encode(), digest_size=12).hexdigest()


def segment_of(event: BaseModel) -> str:
    return f"{getattr(event, 'queue', None) or '-'}|{getattr(event, 'channel', '-')}"


def bucket_targets(settings: Settings, stream: str, ts: float) -> list[list[Any]]:
    """[key, expire_at] for each bucket of the event plus the totals hash (no expiry)."""
    ttl = {
        "m": settings.minute_bucket_ttl_seconds,
        "h": settings.hour_bucket_ttl_seconds,
        "d": settings.day_bucket_ttl_seconds,
    }
    targets: list[list[Any]] = [
        [keys.bucket(settings.app_id, stream, b), expire_at(b, ttl[b.res])] for b in buckets_for_event(ts)
    ]
    targets.append([keys.totals(settings.app_id, stream), 0])
    return targets


def _base(settings: Settings, stream: str, event: BaseModel) -> Update:
    ts = event.occurred_at.timestamp()  # type: ignore[attr-defined]
    # The dedupe key must outlive the time a copy of this event can still be accepted.
    horizon = ts + settings.allowed_lateness_seconds + settings.max_clock_skew_seconds + 60
    return Update(
        event_id=event.event_id,  # type: ignore[attr-defined]
        fingerprint=fingerprint(event),
        dedupe_expire_at=int(horizon),
        stream=stream,
        segment=segment_of(event),
        ts=ts,
        targets=bucket_targets(settings, stream, ts),
    )


def fold_call(settings: Settings, event: BaseModel) -> Update:
    update = _base(settings, "calls", event)
    queue_cfg = settings.queue(event.queue)  # type: ignore[attr-defined]
    counts = update.counts
    app = settings.app_id
    waiting = keys.waiting(app, update.segment)
    ended = keys.call_ended(app, event.call_id)  # type: ignore[attr-defined]
    # An ended marker must outlive any late "queued" for the same call.
    ended_ttl = int(settings.allowed_lateness_seconds + settings.max_clock_skew_seconds + 60)

    if isinstance(event, CallQueued):
        counts["offered"] = 1
        update.ops.append(["wait_add", waiting, event.call_id, update.ts, ended, settings.waiting_max_age_seconds])
    elif isinstance(event, CallAnswered):
        counts["answered"] = 1
        counts["answer_wait_seconds"] = event.wait_seconds
        if within_threshold(event.wait_seconds, queue_cfg.sl_threshold_seconds):
            counts["answered_within_sl"] = 1
        update.ops.append(["wait_end", waiting, event.call_id, ended, ended_ttl])
    elif isinstance(event, CallAbandoned):
        counts["abandoned"] = 1
        counts["abandon_wait_seconds"] = event.wait_seconds
        if is_short_abandon(event.wait_seconds, queue_cfg.short_abandon_seconds):
            counts["short_abandoned"] = 1
        if within_threshold(event.wait_seconds, queue_cfg.sl_threshold_seconds):
            counts["abandoned_within_sl"] = 1
        update.ops.append(["wait_end", waiting, event.call_id, ended, ended_ttl])
    elif isinstance(event, CallCompleted):
        counts["handled"] = 1
        counts["talk_seconds"] = event.talk_seconds
        counts["hold_seconds"] = event.hold_seconds
        counts["acw_seconds"] = event.acw_seconds
        if event.transfers:
            counts["transfers"] = event.transfers
            counts["transferred"] = 1
        if event.resolved is not None:
            counts["fcr_flagged"] = 1
            counts["fcr_resolved"] = 1 if event.resolved else 0
        if event.customer_id and event.contact_reason:
            counts["fcr_eligible"] = 1
            # Integer milliseconds: Lua prints numbers with 14 significant digits, so
            # float epoch seconds would blur the exclusive score bounds in the script.
            window_ms = int(settings.fcr_repeat_window_days * 86400 * 1000)
            keep_ms = window_ms + int((settings.allowed_lateness_seconds + settings.max_clock_skew_seconds) * 1000)
            update.ops.append(
                [
                    "contact",
                    keys.contacts(app, event.customer_id, event.contact_reason),
                    int(update.ts * 1000),
                    window_ms,
                    update.segment,
                    # where "repeat_contacts" / "followed_by_repeat" land for this contact
                    [target[0] for target in update.targets],
                    event.event_id,
                    # keep contacts long enough for a late one to find its neighbours
                    keep_ms,
                ]
            )
        # a completed call is no longer waiting, even if its answer event was lost
        update.ops.append(["wait_end", waiting, event.call_id, ended, ended_ttl])
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"not a call event: {type(event).__name__}")
    return update


FOLDERS: dict[str, Callable[[Settings, BaseModel], Update]] = {"calls": fold_call}


def fold(settings: Settings, stream: str, event: BaseModel) -> Update:
    """Streams without KPIs yet still count as processed, with no counters."""
    folder = FOLDERS.get(stream)
    if folder is None:
        return _base(settings, stream, event)
    return folder(settings, event)
