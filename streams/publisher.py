"""A small Kafka publisher for services, the CLI and the simulator.

It validates before it sends: anything the worker would dead-letter is refused here,
at the source, where the producer can still fix it. Keys are the contact id, so one
call's (ticket's, cart's) events share a partition and arrive in order.

Opt-in batching (``envelope=True``): events are packed into ``streams.envelope``
messages of up to ``envelope_max_events`` events and ``envelope_max_bytes`` bytes,
shipped when full, when the oldest has waited ``envelope_linger`` seconds, or on
``flush()``. An envelope holds the events of one *partition*: each event's partition
is computed from its key with Kafka's default partitioner (murmur2, as for a plain
message), so every contact's events still land in its one partition, in publish
order, and per-contact ordering holds exactly as without envelopes. Grouping by key
instead would keep that too, but a contact has a handful of events spread over
minutes, so its envelopes would hold one or two events and save nothing. The
envelope's message key is empty (it carries many contacts); the worker reads each
event's identity from the event itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from cxpulse.settings import Settings
from streams.decode import Rejection, parse, validate_object
from streams.envelope import OVERHEAD, wrap
from streams.events import STREAM_EVENT_UNIONS, Envelope, partition_key, stream_of
from streams.topics import topic_for

log = logging.getLogger(__name__)

OnError = Callable[[int, str, str], None]
"""Called as ``on_error(line_number, reason, error)`` for a rejected line."""

DEFAULT_ENVELOPE_MAX_EVENTS = 100
"""Events per envelope when packing is on: the benchmark's size (docs/performance.md)."""

DEFAULT_ENVELOPE_LINGER = 0.05
"""Seconds a partly filled envelope waits for more events: within the freshness budget."""

DEFAULT_LINGER_MS = 50
"""How long the Kafka producer holds a partition's record batch open for more events.

Why not Kafka's 5 ms: brokers store and serve records per batch, and the Tansu
broker of the embedded stack pays, on every fetch, for every batch a partition
holds. At 5k events/s one event per message, 5 ms batches hold ~3 events; its CPU
then climbed to a full core within 25 s (0.63 -> 0.97 per 5 s, with only an aiokafka
producer and consumer running), and freshness with it; with 50 ms it stayed near 0.2
(0.14 -> 0.22; ``python -m bench run --only broker``, docs/performance.md). Real
Kafka indexes its log, but takes fewer requests and stores less per event with
fuller batches too. 50 ms is also the envelope
linger, and costs nothing a wall refreshed every few seconds can show; the
benchmark charges it to freshness all the same.
"""


class PublishError(Exception):
    """An event was refused (``reason`` is a ``streams.decode.REASONS`` word) or not delivered."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason = reason
        self.error = error


def validate_any(obj: Any) -> Envelope | Rejection:
    """Validate a raw object against the stream its own ``type`` names.

    A publisher has no topic yet, so the type picks it. The fallback stream for an
    untyped object is harmless: ``validate_object`` rejects a missing or unknown type
    before it compares the type with the stream.
    """
    event_type = obj.get("type") if isinstance(obj, dict) else None
    stream = stream_of(event_type) if isinstance(event_type, str) else None
    return validate_object(obj, stream or next(iter(STREAM_EVENT_UNIONS)))  # type: ignore[return-value]


def decode_line(raw: bytes, max_bytes: int) -> Envelope | Rejection:
    """One JSON-lines record -> an event or a rejection, with the worker's reasons."""
    obj = parse(raw, max_bytes)
    return obj if isinstance(obj, Rejection) else validate_any(obj)


def _decode_text(line: str | bytes, max_bytes: int) -> Envelope | Rejection | None:
    """Like ``decode_line`` for a text or binary line; None for a blank one."""
    if isinstance(line, str):
        try:
            # surrogateescape gives back the original bytes of a file opened with it.
            line = line.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            return Rejection("not_utf8", str(exc))
    raw = line.strip()
    return decode_line(raw, max_bytes) if raw else None


def _log_rejection(line_number: int, reason: str, error: str) -> None:
    log.warning("line %d rejected (%s): %s", line_number, reason, error)


class Publisher:
    """Publish validated events; ``flush()`` waits until the broker has them all.

    ``send`` only enqueues, so delivery futures are kept and awaited by ``flush`` (and
    by ``stop``): a failed delivery surfaces as a ``PublishError`` instead of a lost
    event. Idempotence stays off because the Tansu broker does not support it.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        linger_ms: int = DEFAULT_LINGER_MS,
        max_pending: int = 10000,
        producer: AIOKafkaProducer | None = None,
        envelope: bool = False,
        envelope_max_events: int = DEFAULT_ENVELOPE_MAX_EVENTS,
        envelope_max_bytes: int | None = None,
        envelope_linger: float = DEFAULT_ENVELOPE_LINGER,
    ) -> None:
        self.settings = settings
        self.max_pending = max_pending
        self.delivered = 0
        self._pending: list[tuple[asyncio.Future[Any], int]] = []  # (delivery, events in it: an envelope has many)
        self._started = False
        self.envelope = envelope
        self.envelope_max_events = envelope_max_events
        # the worker refuses a message over max_message_bytes, envelopes included
        self.envelope_max_bytes = min(envelope_max_bytes or settings.max_message_bytes, settings.max_message_bytes)
        if linger_ms < 0:
            raise ValueError("linger_ms >= 0 needed")
        if envelope and (envelope_max_events < 1 or self.envelope_max_bytes < OVERHEAD + 2 or envelope_linger < 0):
            raise ValueError("envelope_max_events >= 1, envelope_max_bytes large enough and envelope_linger >= 0 needed")
        self.envelope_linger = envelope_linger
        self._batches: dict[tuple[str, int], _Batch] = {}
        self._partitions: dict[str, list[int]] = {}
        self._partitioner = DefaultPartitioner()
        self._linger_task: asyncio.Task[None] | None = None
        self._ship_lock = asyncio.Lock()
        # ``producer`` lets tests and embedders supply their own (already configured) one.
        self._producer = producer or AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id=f"{settings.app_id}-publisher",
            linger_ms=linger_ms,
            enable_idempotence=False,
            **settings.kafka_client_options(),
        )

    async def start(self) -> None:
        if not self._started:
            await self._producer.start()
            self._started = True
            if self.envelope and self.envelope_linger > 0:
                self._linger_task = asyncio.create_task(self._linger())

    async def stop(self) -> None:
        """Deliver what is pending, then close; a delivery failure is logged, not raised."""
        if not self._started:
            return
        if self._linger_task is not None:
            self._linger_task.cancel()
            try:
                await self._linger_task
            except asyncio.CancelledError:
                pass
            self._linger_task = None
        try:
            await self.flush()
        except PublishError as exc:
            log.error("closing with undelivered events: %s", exc)
        finally:
            await self._producer.stop()
            self._started = False

    async def __aenter__(self) -> "Publisher":
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def encode(self, event: Envelope) -> tuple[str, bytes, bytes]:
        """(topic, key, value) for ``event``; refuses what the worker would reject."""
        try:
            topic = topic_for(self.settings, event)
        except ValueError as exc:
            raise PublishError("unknown_type", str(exc)) from None
        value = event.model_dump_json(exclude_none=True).encode()
        if len(value) > self.settings.max_message_bytes:
            raise PublishError(
                "oversized", f"{len(value)} bytes > limit {self.settings.max_message_bytes}"
            )
        return topic, partition_key(event).encode(), value

    async def publish(self, event: Envelope) -> None:
        """Enqueue one event; see ``flush`` for delivery."""
        if not self._started:
            raise RuntimeError("Publisher.start() was not called")
        await self._send(*self.encode(event))

    async def _send(self, topic: str, key: bytes, value: bytes) -> None:
        if self.envelope:
            await self._add_to_envelope(topic, key, value)
            return
        self._pending.append((await self._producer.send(topic, value=value, key=key), 1))
        if len(self._pending) >= self.max_pending:
            await self.flush()  # bounds memory on a long file

    # ------------------------------------------------------------------ envelopes

    async def _partition(self, topic: str, key: bytes) -> int:
        """The partition Kafka's default partitioner gives ``key``: where it would go alone."""
        partitions = self._partitions.get(topic)
        if partitions is None:
            found = await self._producer.partitions_for(topic)
            partitions = self._partitions[topic] = sorted(found)
        return int(self._partitioner(key, partitions, partitions))

    async def _add_to_envelope(self, topic: str, key: bytes, value: bytes) -> None:
        if len(value) + OVERHEAD > self.envelope_max_bytes:
            raise PublishError("oversized", f"{len(value)} bytes do not fit an envelope of {self.envelope_max_bytes}")
        where = (topic, await self._partition(topic, key))
        batch = self._batches.get(where)
        if batch is not None and batch.size + len(value) + 1 > self.envelope_max_bytes:
            await self._ship(where)
            batch = None
        if batch is None:
            batch = self._batches[where] = _Batch(asyncio.get_running_loop().time())
        batch.values.append(value)
        batch.size += len(value) + 1
        if len(batch.values) >= self.envelope_max_events:
            await self._ship(where)
        if len(self._pending) >= self.max_pending:
            await self.flush()  # bounds memory on a long file

    async def _ship(self, where: tuple[str, int]) -> None:
        # one ship at a time: two envelopes of a partition must be sent in their order
        async with self._ship_lock:
            batch = self._batches.pop(where, None)
            if not batch or not batch.values:
                return
            topic, partition = where
            delivery = await self._producer.send(topic, value=wrap(batch.values), partition=partition)
            self._pending.append((delivery, len(batch.values)))

    async def _linger(self) -> None:
        """Ship envelopes whose oldest event has waited ``envelope_linger`` seconds."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.envelope_linger / 2)
            now = loop.time()
            for where in [w for w, b in self._batches.items() if now - b.opened >= self.envelope_linger]:
                await self._ship(where)

    async def publish_object(self, obj: dict[str, Any]) -> Envelope:
        """Validate a raw dict and publish it; an invalid one is never sent."""
        result = validate_any(obj)
        if isinstance(result, Rejection):
            raise PublishError(result.reason, result.error)
        await self.publish(result)
        return result

    async def publish_lines(
        self, lines: Iterable[str | bytes], *, on_error: OnError = _log_rejection
    ) -> tuple[int, int]:
        """Publish a JSON-lines stream; return (sent, rejected).

        Blank lines are skipped. A bad line does not stop the rest: it is reported to
        ``on_error`` with its 1-based line number. Returns once every sent event is
        delivered (a delivery failure raises ``PublishError``).
        """
        if not self._started:
            raise RuntimeError("Publisher.start() was not called")
        sent = rejected = 0
        max_bytes = self.settings.max_message_bytes
        for number, line in enumerate(lines, start=1):
            result = _decode_text(line, max_bytes)
            if result is None:
                continue
            try:
                if isinstance(result, Rejection):
                    raise PublishError(result.reason, result.error)
                message = self.encode(result)  # e.g. re-serialised larger than the limit
            except PublishError as exc:
                rejected += 1
                on_error(number, exc.reason, exc.error)
                continue
            await self._send(*message)  # a delivery failure is not the line's fault: raise
            sent += 1
        await self.flush()
        return sent, rejected

    async def flush(self) -> None:
        """Wait for every enqueued event; raise ``PublishError`` if any was lost."""
        for where in list(self._batches):
            await self._ship(where)
        pending, self._pending = self._pending, []
        if not pending:
            return
        counts = [n for _, n in pending]
        results = await asyncio.gather(*(delivery for delivery, _ in pending), return_exceptions=True)
        lost = sum(n for r, n in zip(results, counts) if isinstance(r, BaseException))
        failures = [r for r in results if isinstance(r, BaseException)]
        self.delivered += sum(counts) - lost
        if failures:
            raise PublishError(
                "delivery_failed",
                f"{lost} of {sum(counts)} events not delivered; first: {failures[0]!r}",
            )


class _Batch:
    """Events waiting for their envelope (one per topic and partition)."""

    __slots__ = ("opened", "values", "size")

    def __init__(self, opened: float) -> None:
        self.opened = opened
        self.values: list[bytes] = []
        self.size = OVERHEAD
