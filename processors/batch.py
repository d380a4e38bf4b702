"""One batch of raw messages from a topic -> Redis, with nothing lost and nothing fatal.

Order matters for the at-least-once guarantee:
1. decode and check every message; a per-message failure becomes a rejection;
2. dead-letter the rejections and wait for the broker to acknowledge them;
3. apply the valid events and the rejection counts to Redis in one Lua call
   (retried with backoff while Redis is away);
4. dead-letter events whose id was reused with different content (known only now);
only then may the caller ack the batch so its offsets get committed. A crash at any
point replays the batch: Redis dedupes events and rejection counts, and a
dead-letter record may at worst appear twice (consumers dedupe on its source).

A message may be a batch envelope (``streams.envelope``): its events are checked,
folded and dead-lettered one by one, each under its own source (the message's
offset plus its ``index`` in the envelope). An envelope that cannot be read at all
is dead-lettered whole, like any other bad message. Events are processed
``batch_max_events`` at a time (one Lua call each), however many envelopes they came in.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, NamedTuple, Protocol, Sequence

import orjson
from pydantic import BaseModel

from cxpulse.settings import Settings
from processors.fold import Update, fold
from processors.fold_surveys import is_detractor
from processors.store import STATUS_CONFLICT, STATUS_DUPLICATE, STATUS_NEW, STATUS_OUT_OF_ORDER, STATUS_REPLAY, RejectionMark, Source, WindowStore
from streams.decode import Rejection, check_time, decode, validate_envelope, validate_object
from streams.envelope import EnvelopeError, is_envelope, unpack

log = logging.getLogger(__name__)

SUPPORTS_ENVELOPES = True
"""Messages may be ``streams.envelope`` batches (the benchmark checks this flag)."""

_PLAIN = object()  # marks a message that is one event, still to be decoded from its bytes


class _Originals:
    """An envelope's events as they were sent, parsed only if one needs a dead letter."""

    __slots__ = ("raw", "_events")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._events: list[Any] | None = None

    def __getitem__(self, index: int) -> Any:
        if self._events is None:
            self._events = unpack(self.raw) or []
        return self._events[index]


class _Valid(NamedTuple):
    """An event of an envelope that validated whole (``validate_envelope``)."""

    event: BaseModel
    originals: _Originals
    index: int


class RawMessage(NamedTuple):
    """One message (or one event of an envelope) as the agent hands it over."""

    value: bytes | None
    source: Source
    key: bytes | None = None


class DeadLetterSink(Protocol):
    async def send_all(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Publish (key, value) records and return once the broker has them all."""


@dataclass(slots=True)
class BatchResult:
    new: int = 0
    duplicate: int = 0
    replayed: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


def dead_letter_record(msg: RawMessage, stream: str, rejection: Rejection, now: float) -> bytes:
    """The original bytes travel base64-encoded: they may not even be UTF-8."""
    value = msg.value or b""
    record: dict[str, Any] = {
        "reason": rejection.reason,
        "error": rejection.error,
        "stream": stream,
        "source": {
            "topic": msg.source.topic,
            "partition": msg.source.partition,
            "offset": msg.source.offset,
            "key": msg.key.decode("utf-8", "replace") if msg.key else None,
            **({"index": msg.source.index} if msg.source.index is not None else {}),
        },
        "dead_lettered_at": datetime.fromtimestamp(now, timezone.utc).isoformat(),
        "value_base64": base64.b64encode(value).decode(),
    }
    return orjson.dumps(record)


class RateLimitedLog:
    """One log line per dead-lettered message, but at most ``limit`` per ``period``."""

    def __init__(self, limit: int = 20, period: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.period, self.clock = limit, period, clock
        self.window_start = clock()
        self.count = 0
        self.suppressed = 0

    def warning(self, message: str, *args: Any, extra: dict[str, Any] | None = None) -> None:
        now = self.clock()
        if now - self.window_start >= self.period:
            self.flush()
            self.window_start, self.count = now, 0
        if self.count < self.limit:
            self.count += 1
            log.warning(message, *args, extra=extra)
        else:
            self.suppressed += 1

    def flush(self) -> None:
        """Log how many lines were suppressed once their period is over, even when no
        further dead letter arrives (the worker's heartbeat calls this every 2 s)."""
        if self.suppressed and self.clock() - self.window_start >= self.period:
            log.warning("%d more dead-lettered messages not logged in the last %.0fs", self.suppressed, self.period)
            self.suppressed = 0


class BatchProcessor:
    def __init__(
        self,
        settings: Settings,
        store: WindowStore,
        dead_letters: DeadLetterSink,
        *,
        followups: DeadLetterSink | None = None,
        clock: Callable[[], float] = time.time,
        stopping: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.dead_letters = dead_letters
        self.followups = followups
        self.clock = clock
        self.stopping = stopping
        self.dlq_log = RateLimitedLog()

    def _unpacked(self, stream: str, messages: Sequence[RawMessage]) -> Iterator[tuple[RawMessage, Any]]:
        """(message, what to check) per event: a plain message, or each event of an envelope."""
        limit = self.settings.max_message_bytes
        for msg in messages:
            raw = msg.value
            if not is_envelope(raw):  # one look at the first bytes
                yield msg, _PLAIN
                continue
            assert raw is not None
            valid = validate_envelope(raw, stream) if len(raw) <= limit else None
            items: list[Any]
            if valid is not None:
                originals = _Originals(raw)
                items = [_Valid(event, originals, index) for index, event in enumerate(valid)]
            else:  # each of its events is checked on its own
                try:
                    events = unpack(raw)
                except EnvelopeError as exc:
                    yield msg, Rejection(exc.reason, exc.error)
                    continue
                if len(raw) > limit:
                    yield msg, Rejection("oversized", f"envelope of {len(raw)} bytes > limit {limit}")
                    continue
                assert events is not None  # is_envelope() said it is one
                items = events  # an event's own bytes are only needed for a dead-letter record: made then
            topic, partition, offset = msg.source.topic, msg.source.partition, msg.source.offset
            for index, item in enumerate(items):
                yield RawMessage(None, Source(topic, partition, offset, index), msg.key), item

    def _check(self, msg: RawMessage, stream: str, now_dt: datetime, unpacked: Any = _PLAIN) -> BaseModel | Rejection:
        s = self.settings
        try:
            if isinstance(unpacked, Rejection):
                return unpacked
            if type(unpacked) is _Valid:
                event = unpacked.event
            elif unpacked is _PLAIN:
                event = decode(msg.value, stream, s.max_message_bytes)
            else:
                event = validate_object(unpacked, stream)
            if isinstance(event, Rejection):
                return event
            return check_time(event, now_dt, s.allowed_lateness_seconds, s.max_clock_skew_seconds) or event
        except Exception as exc:  # a bug must not stop the pipeline: dead-letter it
            log.exception("unexpected error decoding %s", msg.source)
            return Rejection("internal_error", f"{type(exc).__name__}: {exc}")

    async def process(self, stream: str, messages: Sequence[RawMessage]) -> BatchResult:
        now = self.clock()
        now_dt = datetime.fromtimestamp(now, timezone.utc)
        result = BatchResult()
        # A batch of envelopes holds many more events than messages: they are checked,
        # folded and stored batch_max_events at a time, so neither the worker's memory
        # nor one Lua call (which blocks Redis for everyone) grows with their size.
        size = self.settings.batch_max_events
        chunk: list[tuple[RawMessage, Any]] = []
        for pair in self._unpacked(stream, messages):
            chunk.append(pair)
            if len(chunk) >= size:
                await self._process_events(stream, chunk, now, now_dt, result)
                chunk = []
        if chunk:
            await self._process_events(stream, chunk, now, now_dt, result)
        return result

    async def _process_events(
        self, stream: str, events: Sequence[tuple[RawMessage, Any]], now: float, now_dt: datetime, result: BatchResult
    ) -> None:
        updates: list[tuple[Update, Source]] = []
        valid: list[BaseModel] = []
        rejected: list[tuple[RawMessage, Rejection]] = []
        origins: list[tuple[RawMessage, Any]] = []  # what each update came from, for a conflict's dead letter

        def with_bytes(msg: RawMessage, unpacked: Any) -> RawMessage:
            """An envelope's event gets its own bytes back, for its dead-letter record."""
            return msg if msg.value is not None else msg._replace(value=_encode_loose(unpacked))

        for msg, unpacked in events:
            checked = self._check(msg, stream, now_dt, unpacked)
            if isinstance(checked, Rejection):
                rejected.append((with_bytes(msg, unpacked), checked))
                continue
            try:
                updates.append((fold(self.settings, stream, checked), msg.source))
                origins.append((msg, unpacked))
                valid.append(checked)
            except ValueError as exc:  # valid JSON, but not foldable under these settings
                rejected.append((with_bytes(msg, unpacked), Rejection("invalid", str(exc))))
            except Exception as exc:
                log.exception("unexpected error folding %s", msg.source)
                rejected.append((with_bytes(msg, unpacked), Rejection("internal_error", f"{type(exc).__name__}: {exc}")))

        published = await self._retry(lambda: self.store.already_dead_lettered([m.source for m, _ in rejected]))
        await self._dead_letter(stream, [(m, r) for m, r in rejected if m.source not in published], now)
        if stream == "surveys":
            await self._follow_up([event for event in valid if is_detractor(event)])
        marks = [RejectionMark(msg.source, rej.reason) for msg, rej in rejected]
        statuses = await self.store.apply_with_retry(
            self.clock, updates, marks, max_backoff=self.settings.redis_retry_max_seconds, stopping=self.stopping
        )
        conflicts: list[tuple[RawMessage, Rejection]] = []
        for (update, _source), origin, status in zip(updates, origins, statuses):
            if status == STATUS_NEW:
                result.new += 1
            elif status == STATUS_DUPLICATE:
                result.duplicate += 1
            elif status == STATUS_REPLAY:
                result.replayed += 1
            elif status == STATUS_CONFLICT:
                error = f"event_id {update.event_id!r} was already used for an event with different content"
                conflicts.append((with_bytes(*origin), Rejection("conflict", error)))
            elif status == STATUS_OUT_OF_ORDER:
                error = (
                    "impossible call lifecycle in event time: answered/abandoned before queued, "
                    "or completed before (or without) an answer"
                )
                conflicts.append((with_bytes(*origin), Rejection("out_of_order", error)))
        await self._dead_letter(stream, conflicts, now)
        for _, rej in rejected + conflicts:
            result.rejected[rej.reason] = result.rejected.get(rej.reason, 0) + 1

    async def _retry(self, call: Callable[[], Any]) -> Any:
        delay = 0.1
        while True:
            try:
                return await call()
            except Exception as exc:
                if self.stopping is not None and self.stopping():
                    raise
                log.warning("redis unavailable, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.redis_retry_max_seconds)

    async def _follow_up(self, detractors: Sequence[BaseModel]) -> None:
        """Publish detractors for the CRM before their batch is stored.

        An event whose dedupe key exists was stored by an earlier batch, which had
        already published its follow-up: skip it. A crash between publishing and
        storing re-publishes on replay (at-least-once; consumers dedupe on event_id).
        """
        if not detractors or self.followups is None:
            return
        seen = await self._retry(lambda: self.store.already_seen([e.event_id for e in detractors]))  # type: ignore[attr-defined]
        records = [
            (
                (getattr(e, "customer_id", None) or e.survey_id).encode(),  # type: ignore[attr-defined]
                orjson.dumps(e.model_dump(mode="json", exclude_none=True) | {"reason": "nps_detractor"}),
            )
            for e in detractors
            if e.event_id not in seen  # type: ignore[attr-defined]
        ]
        if records:
            await self.followups.send_all(records)

    async def _dead_letter(self, stream: str, rejected: Sequence[tuple[RawMessage, Rejection]], now: float) -> None:
        if not rejected:
            return
        records = [(msg.key, dead_letter_record(msg, stream, rej, now)) for msg, rej in rejected]
        await self.dead_letters.send_all(records)
        for msg, rej in rejected:
            self.dlq_log.warning(
                "dead-lettered %s (%s): %s", msg.source, rej.reason, rej.error,
                extra={"reason": rej.reason, "stream": stream, "source": str(msg.source)},
            )


def _encode_loose(obj: Any) -> bytes:
    """An envelope's event back to JSON bytes for its dead-letter record (never raises)."""
    if type(obj) is _Valid:
        obj = obj.originals[obj.index]
    try:
        return orjson.dumps(obj)
    except TypeError:
        return repr(obj).encode()
