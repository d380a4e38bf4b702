"""Turn one validated event into the Redis update it stands for, without touching Redis.

An ``Update`` is plain data: counter increments for the event's segment, added to
the event's minute/hour/day buckets and to the all-time totals, plus a few ordered
operations for live state (the waiting-calls set, the repeat-contact memory). The
store applies a whole batch of them in one Lua call, guarded by the event's dedupe
key, which is what makes a replay after a crash harmless. Keeping this pure means
every KPI's bookkeeping is testable without a broker or Redis.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel

from cxpulse.settings import Settings
from processors import keys
from processors.windows import buckets_for_event, expire_at


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
    # the same counts again under a second dimension (surveys per agent: API only)
    agent: str | None = None
    agent_targets: list[list[Any]] = field(default_factory=list)
    # fill a missing queue/agent from the contact the event refers to: [contact key, fill queue, fill agent]
    attribute: list[Any] | None = None
    # check this step against the contact's lifecycle first: [key, step, event time, ttl]
    lifecycle: list[Any] | None = None


def fingerprint(event: BaseModel) -> str:
    """Content hash: tells a replay or retry (same content) from a conflicting reuse of an id.

    Absent and null optional fields are left out, so a field added to a model later does
    not change the hash of events that do not carry it (a re-sent event stays a duplicate).
    """
    # the model's serializer straight to bytes: what model_dump_json does, minus a str round trip
    raw = event.__pydantic_serializer__.to_json(event, exclude_none=True)
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def segment_of(event: BaseModel) -> str:
    return f"{getattr(event, 'queue', None) or '-'}|{getattr(event, 'channel', '-')}"


def bucket_targets(settings: Settings, stream: str, ts: float) -> list[list[Any]]:
    """[key, expire_at] for each bucket of the event plus the totals hash (no expiry).

    Shared between the events of one minute (hours and days are whole minutes), so a
    batch computes its keys once instead of per event: read it, never mutate it.
    """
    return _targets(
        settings.app_id, stream, int(ts // 60) * 60,
        settings.minute_bucket_ttl_seconds, settings.hour_bucket_ttl_seconds, settings.day_bucket_ttl_seconds,
    )


@functools.lru_cache(maxsize=4096)
def _targets(app_id: str, stream: str, minute: int, ttl_m: int, ttl_h: int, ttl_d: int) -> list[list[Any]]:
    ttl = {"m": ttl_m, "h": ttl_h, "d": ttl_d}
    targets: list[list[Any]] = [[keys.bucket(app_id, stream, b), expire_at(b, ttl[b.res])] for b in buckets_for_event(minute)]
    targets.append([keys.totals(app_id, stream), 0])
    return targets


def base_update(settings: Settings, stream: str, event: BaseModel, segment: str | None = None) -> Update:
    ts = event.occurred_at.timestamp()  # type: ignore[attr-defined]
    # The dedupe key must outlive the time a copy of this event can still be accepted.
    horizon = ts + settings.allowed_lateness_seconds + settings.max_clock_skew_seconds + 60
    return Update(
        event_id=event.event_id,  # type: ignore[attr-defined]
        fingerprint=fingerprint(event),
        dedupe_expire_at=int(horizon),
        stream=stream,
        segment=segment if segment is not None else segment_of(event),
        ts=ts,
        targets=bucket_targets(settings, stream, ts),
    )


def fold(settings: Settings, stream: str, event: BaseModel) -> Update:
    return _folders()[stream](settings, event)


@functools.cache
def _folders() -> dict[str, Callable[[Settings, BaseModel], Update]]:
    from processors import fold_calls, fold_carts, fold_surveys, fold_tickets  # they import this module

    return {
        "calls": fold_calls.fold_call,
        "surveys": fold_surveys.fold_survey,
        "tickets": fold_tickets.fold_ticket,
        "carts": fold_carts.fold_cart,
    }
