"""What each ticket event adds: volumes, response and resolution times, backlog moves.

Durations come from the ``created_at`` the event carries, so the worker needs no
per-ticket lookup; they are summed for means and counted into fixed histogram
buckets for p50/p90 estimates (both aggregate exactly across buckets and queues).
"""

from __future__ import annotations

from pydantic import BaseModel

from cxpulse.settings import Settings
from processors import keys
from processors.fold import Update, base_update, segment_of
from processors.fold_calls import CONTACT_MAP_TTL
from processors.kpis.tickets import FRT_BOUNDARIES, TTR_BOUNDARIES, histogram_index
from streams.events import (
    TicketClosed,
    TicketCreated,
    TicketEscalated,
    TicketFirstResponse,
    TicketReassigned,
    TicketReopened,
    TicketResolved,
)

# how long "this ticket was already escalated" is remembered
ESCALATION_MEMORY_SECONDS = 90 * 86400
# a ticket open longer than this stops counting in the backlog (a lost close event)
BACKLOG_MAX_AGE_SECONDS = 180 * 86400


def fold_ticket(settings: Settings, event: BaseModel) -> Update:
    update = base_update(settings, "tickets", event)
    counts = update.counts
    app = settings.app_id
    ticket_id = event.ticket_id  # type: ignore[attr-defined]
    backlog = keys.open_tickets(app, update.segment)
    ended = keys.ticket_ended(app, ticket_id)
    ended_ttl = int(settings.allowed_lateness_seconds + settings.max_clock_skew_seconds + 60)

    if isinstance(event, TicketCreated):
        counts["created"] = 1
        if event.category:
            counts[f"cat:{event.category}"] = 1
        update.ops.append(["wait_add", backlog, ticket_id, update.ts, ended, BACKLOG_MAX_AGE_SECONDS])
    elif isinstance(event, TicketFirstResponse):
        seconds = max((event.occurred_at - event.created_at).total_seconds(), 0.0)
        counts["first_responses"] = 1
        counts["first_response_seconds"] = seconds
        counts[f"frt_b{histogram_index(seconds, FRT_BOUNDARIES)}"] = 1
    elif isinstance(event, TicketReassigned):
        counts["reassigned"] = 1
        if event.to_queue and event.to_queue != event.queue:
            # its resolve and close will name the new queue: move it there, or it would
            # stay in the old queue's backlog until BACKLOG_MAX_AGE_SECONDS
            moved = segment_of(event.model_copy(update={"queue": event.to_queue}))
            update.ops.append(["move", backlog, keys.open_tickets(app, moved), ticket_id, ended])
    elif isinstance(event, TicketEscalated):
        # a ticket counts as escalated once, whatever level its first escalation reached
        update.ops.append(["once", keys.ticket_escalated(app, ticket_id), ESCALATION_MEMORY_SECONDS, "escalated"])
    elif isinstance(event, TicketResolved):
        seconds = max((event.occurred_at - event.created_at).total_seconds(), 0.0)
        counts["resolved"] = 1
        counts["resolution_seconds"] = seconds
        counts[f"ttr_b{histogram_index(seconds, TTR_BOUNDARIES)}"] = 1
        if event.contact_count == 1:
            counts["resolved_first_contact"] = 1
        update.ops.append(["wait_end", backlog, ticket_id, ended, ended_ttl])
        update.ops.append(
            ["contact_map", keys.contact(app, ticket_id), event.queue, event.agent_id or "", CONTACT_MAP_TTL]
        )
    elif isinstance(event, TicketClosed):
        counts["closed"] = 1
        update.ops.append(["wait_end", backlog, ticket_id, ended, ended_ttl])
    elif isinstance(event, TicketReopened):
        counts["reopened"] = 1
        since = event.created_at.timestamp() if event.created_at else update.ts
        update.ops.append(["reopen", backlog, ticket_id, since, ended])
    return update
