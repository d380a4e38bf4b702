"""A Faust consumer whose drain loop does not pay four tasks per message.

Where the time goes
-------------------
``faust.transport.consumer.Consumer._drain_messages`` hands every fetched message to
the conductor with::

    await self.wait_first(callback(message), self.suspend_flow.wait())

``mode.Service.wait_first`` wraps each awaitable in a task, adds two more for the
service's ``stopped`` and ``crashed`` events, waits with ``asyncio.wait`` and cancels
the three losers: four tasks, a waiter future, a dozen done-callbacks and about
eight trips through the event loop, *per message*. The race exists for one case:
the callback may block (the stream buffer is full, the producer buffer is above its
high-water mark, or flow control is suspended) and a rebalance must then be able to
interrupt it, so that a message fetched before the rebalance is not delivered after
it (faust-streaming #229/#241/#253).

But the callback almost never blocks. It takes an uncontended lock, checks flow
control and the producer buffer, decodes the message and ``put_nowait``s it into the
stream's queue; all of that completes without suspending. The race is only needed
once the callback actually has to wait.

The fix
-------
Run the callback's coroutine directly up to its first suspension (what Python
3.12's eager tasks do). If it finishes there (the common case) nothing else is
needed: the original would have completed it too, because the callback's task
always runs its first step before ``asyncio.wait`` could cancel it. If it
suspends, the rest of it is raced against ``suspend_flow`` exactly as before, by
the same ``wait_first``. So a blocked callback is still interrupted by a rebalance,
by a stop and by a crash; only the price of the non-blocking path changes.

``_drain_messages`` below is faust-streaming 0.15's, with that one call replaced
(marked ``CHANGED``). It is installed through Faust's transport extension point
(``Transport.Consumer``) with :func:`install`, which refuses any Faust other than
0.15.x and leaves the stock consumer in place then (a warning says why): a
different drain loop must be re-read before it is replaced. The change is small
enough to go upstream as is.

The same transport also brings :class:`FastProducer`, whose buffer answers the
conductor's per-message "is the producer buffer over its limit?" without reading a
setting each time (:class:`LeanProducerBuffer`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Awaitable, Coroutine, Generator, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.types.tuples import ack_lock
from faust.transport.producer import ProducerBuffer
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import AppT
from mode import Service
from mode.utils.futures import notify

from processors.message_batch import MessageBatch, is_batch

log = logging.getLogger(__name__)

SUPPORTED_FAUST = (0, 15)
"""The faust-streaming minor series whose ``_drain_messages`` this module copies."""

__all__ = ["FastConsumerThread", "FastDrainConsumer", "FastTransport", "install", "is_supported", "run_eagerly"]


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if digits != piece:
            break
    return tuple(parts)


def is_supported(version: str | None = None) -> bool:
    """True for the faust-streaming versions whose drain loop is copied here."""
    return _version_tuple(version or faust.__version__)[:2] == SUPPORTED_FAUST


class _Continue:
    """Awaitable that finishes a coroutine which ``run_eagerly`` already started.

    Its ``__await__`` is the ``yield from`` protocol written out: whatever the
    coroutine yields goes to the task awaiting us, whatever the task sends or throws
    (a result, ``CancelledError``) goes back into the coroutine.
    """

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self._coro, self._yielded
        self._yielded = None
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # delivered to the coroutine, as a task would
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish(pending: _Continue) -> Any:
    return await pending


def run_eagerly(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run ``coro`` until it completes or first suspends.

    Returns ``(True, result)`` if it completed (an exception it raised propagates),
    else ``(False, awaitable)`` where awaiting the awaitable (in a task, e.g. through
    ``wait_first``) runs the rest of it. Must be called from a running event loop's
    thread, like any code that steps a coroutine.
    """
    send = getattr(coro, "send", None)
    if send is None:  # some other awaitable: nothing to step, let the awaiter run it
        return False, coro
    try:
        yielded = send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, _finish(_Continue(coro, yielded))


class FastDrainConsumer(aiokafka_driver.Consumer):
    """The aiokafka driver's consumer with the per-message race taken off the fast path."""

    def _new_consumer_thread(self) -> "aiokafka_driver.AIOKafkaConsumerThread":
        return FastConsumerThread(self, loop=self.loop, beacon=self.beacon)

    #: Messages that did suspend and went through ``wait_first`` (diagnostics, tests).
    slow_path_messages: int = 0
    #: Messages completed without suspending.
    fast_path_messages: int = 0

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - copied loop, see module doc
        # This is the background thread started by Fetcher, used to
        # constantly read messages using Consumer.getmany.
        # It takes Fetcher as argument, because we must be able to
        # stop it using `await Fetcher.stop()`.
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        suspend_flow = self.suspend_flow
        wait_first = self.wait_first
        eager = run_eagerly

        yield_every = 100
        num_since_yield = 0
        fast = slow = 0
        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = cast(AsyncIterator, getmany(timeout=1.0))

                # Sleeping because sometimes getmany is called in a loop
                # never releasing to the event loop
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if is_batch(message):  # ADDED: a run of messages (processors.message_batch)
                            if r_offset is not None and message.first_offset < r_offset:
                                self.log.dev("DROPPED BATCH ROFF %r: %r..%r", r_offset, message.first_offset, offset)
                                continue
                            await self._add_batch_gaps(tp, r_offset, message)
                        elif r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            # We have a gap in income messages
                            if gap > 1 and r_offset:
                                acks_enabled = acks_enabled_for(message.topic)
                                if acks_enabled:
                                    await self._add_gap(tp, r_offset + 1, offset)
                        else:
                            self.log.dev(
                                "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                offset,
                                message.key,
                                message.value,
                            )
                            continue
                        if commit_every is not None:
                            if self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                        # CHANGED: upstream awaits
                        #   self.wait_first(callback(message), self.suspend_flow.wait())
                        # for every message. Run the callback up to its first
                        # suspension instead; only a callback that has to wait is
                        # raced against suspend_flow (and stop/crash) as before.
                        done, rest = eager(callback(message))
                        if done:
                            fast += 1
                        else:
                            slow += 1
                            await wait_first(cast(Awaitable, rest), suspend_flow.wait())
                        set_read_offset(tp, offset)
                    unset_flag(flag_consumer_fetching)
                    self.fast_path_messages, self.slow_path_messages = fast, slow

        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.fast_path_messages, self.slow_path_messages = fast, slow
            unset_flag(flag_consumer_fetching)

    @property
    def batch_topics(self) -> frozenset[str]:
        """Topics delivered as :class:`MessageBatch` runs (``FastTransport.batch_topics``)."""
        return cast(FastTransport, self.transport).batch_topics

    def ack_run(self, batch: MessageBatch) -> int:
        """``Consumer.ack`` for every message of a stored run, with what is per run done once.

        Upstream's ``ack`` takes the lock, looks up the topic's acking flag, the
        partition's committed offset and its acked list, and wakes anyone waiting for
        acks, once per message: 7 % of the worker's CPU at 5k events/s one event per
        message. The bookkeeping per message is the same as upstream's (its ``acked``
        flag, the acked index and list, the count); the tests compare both.
        Returns how many messages were newly recorded as acked.
        """
        messages = batch.messages
        if not messages:
            return 0
        with ack_lock:
            if not self.app.topics.acks_enabled_for(batch.topic):
                for message in messages:
                    message.acked = True
                return 0
            tp = batch.tp
            committed = self._committed_offset[tp]
            acked_index, acked_for_tp = self._acked_index[tp], self._acked[tp]
            unacked = self._unacked_messages
            recorded = 0
            for message in messages:
                if message.acked:
                    continue
                message.acked = True
                offset = message.offset
                if (committed is None or offset >= committed) and offset not in acked_index:
                    unacked.discard(message)
                    acked_index.add(offset)
                    acked_for_tp.append(offset)
                    recorded += 1
            self._n_acked += recorded
            notify(self._waiting_for_ack)
            return recorded

    async def _add_batch_gaps(self, tp: Any, r_offset: int | None, batch: MessageBatch) -> None:
        """Offsets nobody will ack: before the run (as upstream does for a message) and inside it."""
        if not self.app.topics.acks_enabled_for(batch.topic):
            return
        if r_offset and batch.first_offset - r_offset > 1:  # upstream skips this for r_offset 0 too
            await self._add_gap(tp, r_offset + 1, batch.first_offset - 1)
        for start, end in batch.holes():
            await self._add_gap(tp, start, end)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        """Faust's ``getmany``, except that a batch topic's records of one partition come
        as :class:`MessageBatch` runs of at most ``batch_max_messages``.

        The rest is upstream's: plain topics are interleaved round-robin record by
        record, a changed generation or stopped flow ends the fetch, and records of a
        partition that is no longer active are skipped.
        """
        batch_topics = self.batch_topics
        if not batch_topics:
            async for item in super().getmany(timeout):
                yield item
            return
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            self.log.dev("getmany called while flow not active. Seek back to committed offsets.")
            try:
                await self.perform_seek()
            except Exception as ex:
                self.log.warning(f"exception performing seek when flow not active {ex}")
            return
        to_message = self._to_message
        size = cast(FastTransport, self.transport).batch_max_messages

        def current() -> bool:
            return self.flow_active and self.app.consumer_generation_id == generation_id

        def active(tp: Any) -> bool:
            return active_partitions is None or tp in active_partitions or tp in self._buffered_partitions

        plain = {}
        for tp, tp_records in records.items():
            if tp.topic not in batch_topics:
                plain[tp] = tp_records
                continue
            if not current():
                return
            if not active(tp):
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            messages = [to_message(tp, record) for record in tp_records]
            for start in range(0, len(messages), size):
                yield tp, MessageBatch.of(tp, messages[start : start + size], generation_id)
        for tp, record in self.scheduler.iterate(plain) if plain else ():
            if not current():
                return
            if active(tp):
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                yield tp, to_message(tp, record)


class FastConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """The aiokafka consumer thread, with the fetch wait Faust hard-codes made configurable.

    Faust creates its worker consumer with ``fetch_max_wait_ms=1500``. A broker that
    answers a fetch only when that wait is over, or when every partition in it has
    data (Tansu does), then adds up to 1.5 s to every event's way to the worker.
    ``FastTransport.fetch_max_wait_ms`` (None keeps Faust's value) replaces it before
    the consumer starts. aiokafka has no public setter for it after construction, so
    this sets the attribute its constructor stores; on an aiokafka without it, the
    value is left alone and a warning says so.
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wanted = getattr(transport, "fetch_max_wait_ms", None)
        if wanted is not None:
            if hasattr(consumer, "_fetch_max_wait_ms"):
                consumer._fetch_max_wait_ms = int(wanted)
            else:  # pragma: no cover - depends on the aiokafka release
                log.warning("this aiokafka has no _fetch_max_wait_ms: keeping Faust's fetch wait")
        return consumer


class LeanProducerBuffer(ProducerBuffer):
    """The producer buffer, its per-message "wait until it ebbs" made cheap.

    The conductor awaits ``wait_until_ebb()`` before delivering *every* message, and
    Faust's computes ``size`` through ``app.conf.producer_threaded`` (a settings
    descriptor) each time: ~10 % of a no-op agent's time in the benchmark. This one
    checks the pending queue's length first and goes to Faust's (unchanged) flush
    only when it is over the limit. Used for the unthreaded producer only, where
    ``size`` is exactly that queue's length.
    """

    async def wait_until_ebb(self) -> None:
        if self.pending.qsize() > self.max_messages:
            await super().wait_until_ebb()


class FastProducer(aiokafka_driver.Producer):
    """The aiokafka driver's producer with :class:`LeanProducerBuffer`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.app.conf.producer_threaded:
            buffer = LeanProducerBuffer(loop=self.loop, beacon=self.beacon)
            buffer.app = self.app
            self.buffer = buffer


class FastTransport(aiokafka_driver.Transport):
    """The aiokafka transport (``kafka://``) using :class:`FastDrainConsumer` and
    :class:`FastProducer`."""

    Consumer = FastDrainConsumer
    Producer = FastProducer

    def __init__(
        self,
        *args: Any,
        fetch_max_wait_ms: int | None = None,
        batch_topics: frozenset[str] = frozenset(),
        batch_max_messages: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.batch_topics = batch_topics
        self.batch_max_messages = batch_max_messages


def install(
    app: AppT,
    *,
    enabled: bool = True,
    fetch_max_wait_ms: int | None = None,
    batch_topics: frozenset[str] = frozenset(),
    batch_max_messages: int = 1000,
) -> bool:
    """Make ``app`` consume through :class:`FastDrainConsumer`; True if it now does.

    Call it right after creating the app, before its consumer exists. Leaves the
    stock consumer (and returns False) when disabled, on a faust-streaming other
    than 0.15.x, for a transport other than aiokafka's, or when the consumer was
    already created. ``fetch_max_wait_ms`` replaces the 1500 ms fetch wait Faust
    hard-codes (None keeps it); see :class:`FastConsumerThread`. Messages of
    ``batch_topics`` reach their agents as :class:`MessageBatch` runs of at most
    ``batch_max_messages`` (``processors.message_batch``); only when this returns True.
    """
    if not enabled:
        return False
    if not is_supported():
        log.warning(
            "faust-streaming %s is not %d.%d.x: keeping Faust's own consumer "
            "(processors.fast_consumer copies 0.15's drain loop and must be re-checked)",
            faust.__version__, *SUPPORTED_FAUST,
        )
        return False
    if getattr(app, "_consumer", None) is not None:
        log.warning("fast consumer not installed: %r already has a consumer", app)
        return False
    urls = app.conf.broker_consumer
    scheme = urls[0].scheme if urls else ""
    if scheme not in ("kafka", "aiokafka"):
        log.info("fast consumer not installed: transport %r is not aiokafka's", scheme)
        return False
    current = getattr(app, "_transport", None)
    if current is not None and current.__class__ not in (aiokafka_driver.Transport, FastTransport):
        log.warning("fast consumer not installed: %r uses a custom transport", app)
        return False
    app.transport = FastTransport(
        urls, app, fetch_max_wait_ms=fetch_max_wait_ms,
        batch_topics=frozenset(batch_topics), batch_max_messages=batch_max_messages,
    )
    return True
