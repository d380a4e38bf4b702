"""The Faust app: one agent per event topic, each folding batches into Redis.

Faust supplies consumer groups, partition assignment and offset commits; state lives
in Redis, not in Faust tables, because the broker we run on locally (Tansu) cannot
be trusted for changelog recovery (no transactions, unreliable end offsets). An
event's offset is acked only after its batch is in Redis; a batch that could not be
stored is left un-acked, which leaves a gap Faust never commits past, so it is
replayed on restart and deduplicated there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import tempfile
import time
import weakref
from typing import Any, Sequence

import faust

from cxpulse.settings import Settings, redis_url_of
from processors import keys
from processors.batch import BatchProcessor, DeadLetterSink, RawMessage
from processors.fast_consumer import install as install_fast_consumer
from processors.faust_lean import LeanMonitor, RawSchema
from processors.message_batch import is_batch
from processors.store import Source, WindowStore, connect

log = logging.getLogger(__name__)


class TopicSink:
    """Records for a side topic (dead letters, follow-ups); retried until the broker has them."""

    def __init__(self, topic: faust.TopicT, max_backoff: float = 5.0) -> None:
        self.topic = topic
        self.max_backoff = max_backoff

    async def send_all(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        delay = 0.2
        while True:
            try:
                futures = [await self.topic.send(key=key, value=value) for key, value in records]
                await asyncio.gather(*futures)
                return
            except Exception as exc:  # the broker is away: keep the batch, retry
                log.warning("dead-letter publish failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)


class Pipeline:
    """Per-process state the agents share, created lazily inside the worker's loop."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        dead_letters: DeadLetterSink | None,
        followups: DeadLetterSink | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self._dead_letters = dead_letters
        self._followups = followups
        self._processor: BatchProcessor | None = None
        self._probe: Any = None
        self._broker_ok = True
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"

    @property
    def processor(self) -> BatchProcessor:
        if self._processor is None:
            store = WindowStore(connect(redis_url_of(self.settings)), self.settings.app_id)
            sink = self._dead_letters or TopicSink(self._raw_topic(self.settings.topics.deadletter))
            followups = self._followups or TopicSink(self._raw_topic(self.settings.topics.followups))
            self._processor = BatchProcessor(self.settings, store, sink, followups=followups, stopping=self._stopping)
        return self._processor

    def _raw_topic(self, name: str) -> faust.TopicT:
        return self.app.topic(name, value_serializer="raw", key_serializer="raw")

    async def expire_carts(self) -> None:
        """The cart-abandonment timer: idle carts become abandoned (atomic, safe on every worker)."""
        s = self.settings
        ttls = {"m": s.minute_bucket_ttl_seconds, "h": s.hour_bucket_ttl_seconds, "d": s.day_bucket_ttl_seconds}
        try:
            counted = await self.processor.store.expire_carts(time.time(), s.cart_abandon_timeout_seconds, ttls)
            if counted:
                log.info("%d idle carts counted as abandoned", counted)
        except Exception as exc:  # Redis away: the next tick retries, nothing is lost
            log.warning("cart timer skipped: %s", exc)

    def _stopping(self) -> bool:
        return bool(getattr(self.app, "_stopped", None) and self.app._stopped.is_set())  # type: ignore[attr-defined]

    async def heartbeat(self) -> None:
        """Lets the exporter tell a live worker from a dead one, and a reachable broker from
        an unreachable one (WorkerDown, PipelineStalled)."""
        if self._processor is not None:
            self._processor.dlq_log.flush()  # the count of a dead-letter flood that stopped
        now = time.time()
        broker_ok = await self._probe_broker()
        key = keys.workers(self.settings.app_id)
        try:
            async with self.processor.store.client.pipeline(transaction=False) as pipe:
                pipe.zadd(key, {self.worker_id: now})
                pipe.zremrangebyscore(key, "-inf", now - 3600)  # forget workers gone for an hour
                if broker_ok:
                    pipe.hset(keys.health(self.settings.app_id), "broker|last_ok_ts", now)
                await pipe.execute()
        except Exception as exc:
            log.warning("heartbeat not written (redis unavailable?): %s", exc)

    async def _probe_broker(self) -> bool:
        """A metadata round trip with a short timeout; a frozen broker accepts TCP but never answers."""
        from aiokafka import AIOKafkaClient

        try:
            if self._probe is None:
                self._probe = AIOKafkaClient(
                    bootstrap_servers=self.settings.kafka_bootstrap, request_timeout_ms=3000,
                    **self.settings.kafka_client_options(),
                )
                await asyncio.wait_for(self._probe.bootstrap(), 3)
            await asyncio.wait_for(self._probe.fetch_all_metadata(), 3)
        except Exception as exc:
            if self._broker_ok:
                log.warning("broker unreachable: %s", exc or type(exc).__name__)
            self._broker_ok = False
            return False
        if not self._broker_ok:
            log.warning("broker reachable again")
        self._broker_ok = True
        return True


def create_app(
    settings: Settings,
    *,
    dead_letters: DeadLetterSink | None = None,
    followups: DeadLetterSink | None = None,
    **faust_options: Any,
) -> faust.App:
    options: dict[str, Any] = dict(
        broker=settings.faust_broker,
        broker_credentials=settings.faust_credentials(),
        store="memory://",
        topic_partitions=settings.topics.partitions,
        topic_disable_leader=True,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        stream_wait_empty=True,
        producer_acks=-1,
        producer_linger_ms=5,
        # A fetch brings up to 1 MiB per partition (thousands of messages): the agent's
        # buffer must hold that past its 80 % pressure mark, or the consumer waits on
        # a full buffer message by message (docs/performance.md).
        stream_buffer_maxsize=settings.stream_buffer_maxsize,
        # per-message bookkeeping only Faust's (disabled) web pages read (processors/faust_lean.py)
        Monitor=LeanMonitor,
    )
    options.update(faust_options)
    own_datadir = "datadir" not in options
    if own_datadir:
        # Faust creates "<app id>-data/v1/tables" in the working directory by default;
        # our state is in Redis and the store is in memory, so those directories would
        # only litter wherever the worker was started. A private temporary one instead.
        options["datadir"] = tempfile.mkdtemp(prefix=f"cxpulse-{settings.app_id}-")
    app = faust.App(settings.app_id, **options)
    if own_datadir:
        weakref.finalize(app, shutil.rmtree, options["datadir"], True)
    # Faust's drain loop races every message against a rebalance with four tasks;
    # this consumer does so only for a message that has to wait, and lets the fetch
    # wait be set (Faust hard-codes 1.5 s; Tansu holds fetches that long; docs/performance.md).
    sources = settings.topics.sources()
    # and Faust's per-message delivery runs once per fetched run of a partition
    batch_topics = frozenset(sources.values()) if settings.message_batches else frozenset()
    batched = install_fast_consumer(
        app,
        enabled=settings.fast_consumer,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        batch_topics=batch_topics,
        batch_max_messages=settings.batch_max_events,
    ) and bool(batch_topics)
    pipeline = Pipeline(app, settings, dead_letters, followups)
    app.cxpulse = pipeline  # type: ignore[attr-defined]

    for stream_name, topic_name in sources.items():
        # bytes in, as they arrived: the worker validates and dead-letters events itself
        topic = app.topic(topic_name, schema=RawSchema(), partitions=settings.topics.partitions)
        make = _make_batch_agent if batched else _make_agent
        app.agent(topic, name=f"cxpulse.{stream_name}")(make(pipeline, stream_name))

    # A timer's first tick comes one interval after start; the worker may have folded
    # events by then, and a snapshot showing them with "workers alive 0" is wrong.
    app.task(pipeline.heartbeat)
    app.timer(2.0)(pipeline.heartbeat)
    app.timer(settings.cart_timer_interval_seconds)(pipeline.expire_carts)
    return app


def _raw(message: Any) -> RawMessage:
    return RawMessage(
        value=message.value, source=Source(message.topic, message.partition, message.offset), key=message.key
    )


def _make_batch_agent(pipeline: Pipeline, stream_name: str) -> Any:
    """The agent for a topic the consumer delivers as :class:`MessageBatch` runs.

    The agent takes the runs that came within ``batch_within_seconds`` (up to
    ``batch_max_runs``), so a batch grows when the agent falls behind. Taking as many
    runs as the topic has partitions (one fetch's worth) bounded a batch by the number
    of runs, not events: a small topic's runs are a few events each, and its agent,
    which also waits for the follow-up topic's acks per batch, fell further behind
    every second (surveys p99 19.6 s at 5k events/s one event per message; with 256
    runs, 1.5 s; docs/performance.md). A run's messages are acked once stored
    (``FastDrainConsumer.ack_run``; the stream acks the run itself); a value that is not
    a run (``agent.test_context()``) is one message.

    ``take_events`` stops buffering while the agent works on a batch and then waits a
    full window again. A take that kept buffering and counted the window from the
    oldest event was measured worse at 5k events/s (smaller batches, more CPU per
    event on a full machine; docs/performance.md, the 02:46 run): keep Faust's.
    """
    app = pipeline.app
    settings = pipeline.settings

    async def agent(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.batch_max_runs, within=settings.batch_within_seconds):
            carriers = [e.message for e in events]
            messages = [m for c in carriers for m in (c.messages if is_batch(c) else (c,))]
            try:
                await pipeline.processor.process(stream_name, [_raw(m) for m in messages])
            except BaseException:
                for carrier in carriers:
                    carrier.acked = True  # never recorded as done: the gap stops commits, see _make_agent
                raise
            consumer = app.consumer
            for carrier in carriers:
                if is_batch(carrier):
                    consumer.ack_run(carrier)

    agent.__name__ = f"{stream_name}_agent"
    agent.__qualname__ = agent.__name__
    return agent


def _make_agent(pipeline: Pipeline, stream_name: str) -> Any:
    settings = pipeline.settings

    async def agent(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.batch_max_events, within=settings.batch_within_seconds):
            messages = [_raw(e.message) for e in events]
            try:
                await pipeline.processor.process(stream_name, messages)
            except BaseException:
                # Not stored: pretend these were acked so Faust never records them as
                # done; the gap stops commits before them and they are replayed.
                for e in events:
                    e.message.acked = True
                raise

    agent.__name__ = f"{stream_name}_agent"
    agent.__qualname__ = agent.__name__
    return agent
