"""A small Kafka publisher for services, the CLI and the simulator.

It validates before it sends: anything the worker would dead-letter is refused here,
at the source, where the producer can still fix it. Keys are the contact id, so one
call's (ticket's, cart's) events share a partition and arrive in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer

from cxpulse.settings import Settings
from streams.decode import Rejection, parse, validate_object
from streams.events import STREAM_EVENT_UNIONS, Envelope, partition_key, stream_of
from streams.topics import topic_for

log = logging.getLogger(__name__)

OnError = Callable[[int, str, str], None]
"""Called as ``on_error(line_number, reason, error)`` for a rejected line."""


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
        linger_ms: int = 5,
        max_pending: int = 10000,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        self.settings = settings
        self.max_pending = max_pending
        self.delivered = 0
        self._pending: list[asyncio.Future[Any]] = []
        self._started = False
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

    async def stop(self) -> None:
        """Deliver what is pending, then close; a delivery failure is logged, not raised."""
        if not self._started:
            return
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
        self._pending.append(await self._producer.send(topic, value=value, key=key))
        if len(self._pending) >= self.max_pending:
            await self.flush()  # bounds memory on a long file

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
        pending, self._pending = self._pending, []
        if not pending:
            return
        results = await asyncio.gather(*pending, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        self.delivered += len(results) - len(failures)
        if failures:
            raise PublishError(
                "delivery_failed",
                f"{len(failures)} of {len(results)} events not delivered; first: {failures[0]!r}",
            )
