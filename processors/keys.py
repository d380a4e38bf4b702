"""Redis key names in one place, so the worker that writes and the exporter that reads agree.

Every key starts with the app id, so several deployments (or parallel test runs)
can share one Redis without seeing each other's figures.
"""

from __future__ import annotations

from processors.windows import Bucket


def bucket(app: str, stream: str, b: Bucket) -> str:
    """Hash of ``segment|field`` -> summed value for one event-time bucket."""
    return f"{app}:{stream}:{b.res}:{b.start}"


def totals(app: str, stream: str) -> str:
    """All-time counters (Prometheus counters are read from here; never expires)."""
    return f"{app}:{stream}:total"


def segments(app: str, stream: str) -> str:
    return f"{app}:{stream}:segments"


def bucket_versions(app: str) -> str:
    """Hash of bucket key -> stamp of its last write (``bucket_versions.lua``); the
    exporter re-reads only the buckets whose stamp moved. ``:seq`` and ``:expiry`` beside it."""
    return f"{app}:bucket_versions"


def seen(app: str, event_id: str) -> str:
    return f"{app}:seen:{event_id}"


def rejected_prefix(app: str) -> str:
    """+ a source (``topic:partition:offset[#index]``): marks a dead-lettered message or
    envelope event so a replay does not count it twice. The Lua script builds the same
    name from the same prefix."""
    return f"{app}:rejected:"


def waiting(app: str, segment: str) -> str:
    """Sorted set of call ids waiting in a queue, scored by the time they were queued."""
    return f"{app}:calls:waiting:{segment}"


def call_ended(app: str, call_id: str) -> str:
    return f"{app}:calls:ended:{call_id}"


def contacts(app: str, customer_id: str, reason: str) -> str:
    """Sorted set of one customer's contacts for one reason, scored by event time."""
    return f"{app}:calls:contacts:{customer_id}|{reason}"


def health(app: str) -> str:
    """Pipeline health counters: ``topic|processed``, ``topic|invalid|reason``, ..."""
    return f"{app}:health"


def partitions(app: str) -> str:
    """Events folded per source partition (``topic|partition``): a watermark per
    partition, the only one that is exact (a topic's count can hide a lagging
    partition behind the others), and a stuck partition shows as one that stops."""
    return f"{app}:partitions"


def workers(app: str) -> str:
    """Sorted set of worker ids scored by their last heartbeat."""
    return f"{app}:workers"


def contact(app: str, contact_id: str) -> str:
    """queue/agent of a finished call or ticket, so a later survey about it is attributed."""
    return f"{app}:contact:{contact_id}"


def open_tickets(app: str, segment: str) -> str:
    """Sorted set of open ticket ids, scored by creation time (the backlog)."""
    return f"{app}:tickets:open:{segment}"


def ticket_ended(app: str, ticket_id: str) -> str:
    return f"{app}:tickets:ended:{ticket_id}"


def open_carts(app: str) -> str:
    """Sorted set of ``segment<TAB>cart id``, scored by the cart's last activity."""
    return f"{app}:carts:open"


def cart_ended(app: str, cart_id: str) -> str:
    return f"{app}:carts:ended:{cart_id}"


def nps_last_prefix(app: str) -> str:
    """+ segment: list of the newest NPS classes (p/s/d) for "NPS of the last N responses"."""
    return f"{app}:surveys:nps_last:"


def ticket_escalated(app: str, ticket_id: str) -> str:
    return f"{app}:tickets:escalated:{ticket_id}"


def call_lifecycle(app: str, call_id: str) -> str:
    """Hash step -> event time (queued, answered, abandoned, completed) of one call."""
    return f"{app}:calls:life:{call_id}"
