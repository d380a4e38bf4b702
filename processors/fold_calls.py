"""What each call event adds: offered/answered/abandoned counts, waits, handle time, FCR."""

from __future__ import annotations

from pydantic import BaseModel

from cxpulse.settings import Settings
from processors import keys
from processors.fold import Update, base_update
from processors.kpis.calls import is_short_abandon, within_threshold
from streams.events import CallAbandoned, CallAnswered, CallCompleted, CallQueued

# how long a finished call's queue/agent is remembered for late surveys about it
CONTACT_MAP_TTL = 30 * 86400

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


def fold_call(settings: Settings, event: BaseModel) -> Update:
    update = base_update(settings, "calls", event)
    queue_cfg = settings.queue(event.queue)  # type: ignore[attr-defined]
    counts = update.counts
    app = settings.app_id
    waiting = keys.waiting(app, update.segment)
    ended = keys.call_ended(app, event.call_id)  # type: ignore[attr-defined]
    # An ended marker must outlive any late "queued" for the same call.
    ended_ttl = int(settings.allowed_lateness_seconds + settings.max_clock_skew_seconds + 60)
    step = event.type.split(".", 1)[1]  # type: ignore[attr-defined]
    update.lifecycle = [keys.call_lifecycle(app, event.call_id), step, update.ts,  # type: ignore[attr-defined]
                        int(settings.call_lifecycle_ttl_seconds)]

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
        # a survey about this call will be attributed to its queue and agent
        update.ops.append(
            ["contact_map", keys.contact(app, event.call_id), event.queue, event.agent_id or "", CONTACT_MAP_TTL]
        )
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"not a call event: {type(event).__name__}")
    return update
