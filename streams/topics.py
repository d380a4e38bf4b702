"""Where each event goes, and making sure those topics exist.

Routing lives in one place so the publisher, the simulator and the worker can never
disagree on which topic carries which event type.
"""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from pydantic import BaseModel

from cxpulse.settings import Settings
from streams.events import stream_of

log = logging.getLogger(__name__)

# A week. Set explicitly at creation because Tansu only reports configs that were
# set when the topic was created, and some clients (Quix) read retention.ms back.
RETENTION_MS = "604800000"


def topic_for(settings: Settings, event: BaseModel) -> str:
    """The topic of ``event``'s stream; a ValueError for a type no stream claims."""
    event_type = getattr(event, "type", None)
    stream = stream_of(event_type) if isinstance(event_type, str) else None
    if stream is None:
        raise ValueError(f"no stream carries events of type {event_type!r}")
    return settings.topics.sources()[stream]


def all_topics(settings: Settings) -> list[str]:
    """The four event topics plus the dead-letter and detractor follow-up topics."""
    return [*settings.topics.sources().values(), settings.topics.deadletter, settings.topics.followups]


async def ensure_topics(
    settings: Settings,
    bootstrap: str | None = None,
    *,
    replication_factor: int = 1,
    timeout_ms: int = 10000,
) -> list[str]:
    """Create the event and dead-letter topics; return the ones that were new.

    Idempotent: a topic that already exists is left alone (its partition count is
    not changed, since adding partitions would move keys and break per-contact order).
    """
    topics = all_topics(settings)
    new = [
        NewTopic(
            name,
            num_partitions=settings.topics.partitions,
            replication_factor=replication_factor,
            topic_configs={"retention.ms": RETENTION_MS},
        )
        for name in topics
    ]
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap or settings.kafka_bootstrap,
        client_id=f"{settings.app_id}-admin",
        **settings.kafka_client_options(),
    )
    await admin.start()
    try:
        try:
            response = await admin.create_topics(new, timeout_ms=timeout_ms)
        except TopicAlreadyExistsError:  # some brokers fail the whole request
            return []
    finally:
        await admin.close()
    created = []
    # Per-topic failures come back as error codes in the response, not as exceptions.
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        if code == 0:
            created.append(name)
            continue
        error = for_code(code)
        if error is TopicAlreadyExistsError:
            continue
        message = entry[2] if len(entry) > 2 and entry[2] else error.__name__
        raise error(f"creating topic {name!r}: {message}")
    if created:
        log.info("created topics %s with %d partitions", created, settings.topics.partitions)
    return created
