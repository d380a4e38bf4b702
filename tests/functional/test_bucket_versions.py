"""Bucket stamps and the reader's cache, on a real redis-server: a reader re-reads only
the buckets whose stamp moved, and never serves a bucket older than Redis holds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bench.workload import generate as generate_workload
from cxpulse.embedded import Service
from cxpulse.settings import Settings
from exporters.entry_memo import EntryMemo
from exporters.snapshot import build_snapshot
from processors import keys
from processors.batch import BatchProcessor, RawMessage
from processors.fold import fold
from processors.store import BucketCache, Source, WindowStore, connect
from processors.windows import Bucket, bucket_of, window_buckets
from tests.functional.support import NOW, TTLS, ev


def queued(eid: str, ago: float) -> Any:
    return ev("calls", eid, "call.queued", ago, call_id=f"c-{eid}", queue="sales", channel="voice")


async def apply(store: WindowStore, settings: Settings, stream: str, *events: Any, now: float = NOW) -> None:
    offset = int(time.monotonic() * 1e6)  # a fresh source per call: never a replay
    batch = [(fold(settings, stream, e), Source(f"cx.{stream}", 0, offset + i)) for i, e in enumerate(events)]
    assert await store.apply(now, batch) == [0] * len(events)


def offered(readout: Any, bucket: Bucket) -> float:
    return readout.buckets[bucket].get("sales|voice", {}).get("offered", 0.0)


async def reader(redis_service: Service, app_id: str) -> WindowStore:
    """A second store, as the exporter holds: its own connection, its own cache."""
    return WindowStore(connect(redis_service.url), app_id)


async def test_a_reader_rereads_only_the_buckets_that_changed(
    store: WindowStore, settings: Settings, redis_service: Service, app_id: str
) -> None:
    hour = window_buckets("1h", NOW, settings.zone)  # 60 minute buckets
    now_minute, older_minute = bucket_of(NOW, "m"), bucket_of(NOW - 600, "m")
    await apply(store, settings, "calls", queued("a", 0), queued("b", 600))
    exporter = await reader(redis_service, app_id)
    try:
        first = await exporter.read("calls", hour)
        assert offered(first, now_minute) == 1 and offered(first, older_minute) == 1
        assert exporter._buckets.misses == 60 and len(exporter._buckets) == 60

        second = await exporter.read("calls", hour)
        assert exporter._buckets.hits == 60 and exporter._buckets.misses == 60
        assert second.window(hour)["sales|voice"]["offered"] == 2

        # a new event in the current minute: only that bucket is read again, and is fresh
        await apply(store, settings, "calls", queued("c", 0))
        third = await exporter.read("calls", hour)
        assert exporter._buckets.hits == 60 + 59 and exporter._buckets.misses == 61
        assert offered(third, now_minute) == 2 and offered(third, older_minute) == 1
        assert third.window(hour)["sales|voice"]["offered"] == 3
    finally:
        await exporter.client.aclose()


async def test_a_late_event_refreshes_a_closed_bucket(
    store: WindowStore, settings: Settings, redis_service: Service, app_id: str
) -> None:
    hour = window_buckets("1h", NOW, settings.zone)
    older_minute = bucket_of(NOW - 1200, "m")
    await apply(store, settings, "calls", queued("a", 1200))
    exporter = await reader(redis_service, app_id)
    try:
        assert offered(await exporter.read("calls", hour), older_minute) == 1
        await apply(store, settings, "calls", queued("late", 1200))
        assert offered(await exporter.read("calls", hour), older_minute) == 2
    finally:
        await exporter.client.aclose()


async def test_a_repeat_contact_refreshes_its_predecessors_bucket(
    store: WindowStore, settings: Settings, redis_service: Service, app_id: str
) -> None:
    """The second contact credits the first one's bucket, which it does not itself write to."""
    ago = {"A": 1500, "B": 300}  # different minutes
    first_minute = bucket_of(NOW - ago["A"], "m")

    def answered(eid: str) -> Any:
        return ev("calls", f"ans-{eid}", "call.answered", ago[eid] + 60, call_id=eid, queue="sales",
                  channel="voice", wait_seconds=5)

    def completed(eid: str) -> Any:
        return ev("calls", f"done-{eid}", "call.completed", ago[eid], call_id=eid, queue="sales", channel="voice",
                  talk_seconds=30, customer_id="cust-1", contact_reason="billing")

    await apply(store, settings, "calls", answered("A"), answered("B"), completed("A"))
    exporter = await reader(redis_service, app_id)
    try:
        before = await exporter.read("calls", [first_minute])
        assert before.buckets[first_minute]["sales|voice"].get("followed_by_repeat", 0) == 0
        await apply(store, settings, "calls", completed("B"))
        after = await exporter.read("calls", [first_minute])
        assert after.buckets[first_minute]["sales|voice"]["followed_by_repeat"] == 1
    finally:
        await exporter.client.aclose()


async def test_the_cart_timer_stamps_the_buckets_it_counts_in(
    store: WindowStore, settings: Settings, redis_service: Service, app_id: str
) -> None:
    await apply(store, settings, "carts", ev("carts", "k1", "cart.created", 4000, cart_id="K1"))
    became = bucket_of(NOW - 4000 + 1800, "m")  # idle for 30 min from its last activity
    exporter = await reader(redis_service, app_id)
    try:
        before = await exporter.read("carts", [became])
        assert before.buckets[became] == {}
        # the bucket is created by the timer itself; a second read must see it
        assert await store.expire_carts(NOW, 1800, TTLS) == 1
        after = await exporter.read("carts", [became])
        assert after.buckets[became]["web"]["abandoned_timeout"] == 1
        # and, stamped, it is now served from the cache until it changes
        hits = exporter._buckets.hits
        await exporter.read("carts", [became])
        assert exporter._buckets.hits == hits + 1
    finally:
        await exporter.client.aclose()


async def test_a_redis_that_lost_its_data_cannot_replay_a_stamp(
    store: WindowStore, settings: Settings, redis_service: Service, app_id: str
) -> None:
    minute = bucket_of(NOW, "m")
    await apply(store, settings, "calls", queued("a", 0))
    exporter = await reader(redis_service, app_id)
    try:
        assert offered(await exporter.read("calls", [minute]), minute) == 1
        # the app's keys vanish (a Redis restarted without persistence), the counter with them
        doomed = await store.client.keys(f"{app_id}:*")
        await store.client.delete(*doomed)
        await apply(store, settings, "calls", queued("x", 0), queued("y", 0))
        # the new stamp has the same counter value as the old one, not the same stamp
        assert offered(await exporter.read("calls", [minute]), minute) == 2
    finally:
        await exporter.client.aclose()


async def test_stamps_of_expired_buckets_are_pruned(store: WindowStore, settings: Settings, app_id: str) -> None:
    await apply(store, settings, "calls", queued("a", 0))
    versions = keys.bucket_versions(app_id)
    minute_key = keys.bucket(app_id, "calls", bucket_of(NOW, "m"))
    assert await store.client.hexists(versions, minute_key)
    minute_expires = bucket_of(NOW, "m").end + settings.minute_bucket_ttl_seconds
    assert await store.client.zscore(versions + ":expiry", minute_key) == minute_expires
    # later, once the minute bucket has expired, an event in a new minute prunes its stamp
    later = minute_expires + 1
    later_event = ev("calls", "z", "call.queued", NOW - later, call_id="z", queue="sales", channel="voice")
    await apply(store, settings, "calls", later_event, now=later)
    assert not await store.client.hexists(versions, minute_key)
    assert await store.client.zscore(versions + ":expiry", minute_key) is None
    # the hour and day buckets have not expired: their stamps stay
    assert await store.client.hexists(versions, keys.bucket(app_id, "calls", bucket_of(NOW, "d")))


def test_the_cache_forgets_what_nobody_reads() -> None:
    clock = [0.0]
    cache = BucketCache(keep_seconds=100, clock=lambda: clock[0])
    cache.store("a", "1@t", {"s": {"f": 1.0}})
    cache.store("b", "1@t", {"s": {"f": 2.0}})
    cache.store("c", None, {"s": {"f": 3.0}})  # data without a stamp (older writer): never cached
    cache.store("d", None, {})  # empty without a stamp: only a (stamping) write can fill it
    assert len(cache) == 3
    assert cache.lookup(["a", "b", "c", "d"], ["1@t", "2@t", None, None]) == [{"s": {"f": 1.0}}, None, None, {}]
    assert cache.lookup(["d"], ["1@t"]) == [None]  # written since
    clock[0] = 60.0
    assert cache.lookup(["a"], ["1@t"]) == [{"s": {"f": 1.0}}]  # used at 60: kept
    clock[0] = 120.0
    cache.lookup([], [])
    assert len(cache) == 1  # "b" was last used at 0, "d" at 0


async def test_a_cached_readers_snapshot_equals_a_fresh_readers_after_every_batch(
    store: WindowStore, settings: Settings, redis_service: Service, app_id: str
) -> None:
    """The realistic mix in slices, late and out-of-order events included: the exporter's
    long-lived store and entry memo, and a brand-new store (nothing cached, nothing
    remembered), must build the same snapshot."""
    workload = generate_workload(2400, span_seconds=1800)
    processor = BatchProcessor(settings, store, _Sink(), followups=_Sink())
    exporter = await reader(redis_service, app_id)
    memo = EntryMemo(settings)
    try:
        for round_ in range(6):
            for stream, items in workload.events.items():
                part = items[round_::6]
                offset = round_ * len(items)
                await processor.process(stream, [RawMessage(v, Source(f"t.{stream}", 0, offset + i), k)
                                                 for i, (k, v) in enumerate(part)])
            await store.expire_carts(time.time(), 600, TTLS)
            now = time.time()
            fresh = await reader(redis_service, app_id)
            try:
                assert await build_snapshot(exporter, settings, now, memo) == await build_snapshot(fresh, settings, now)
            finally:
                await fresh.client.aclose()
        assert exporter._buckets.hits > 0  # the cache was used, not bypassed
        assert memo.hits > 0  # and so was the memo
        assert exporter._sums.hits > 0  # and the remembered window sums
    finally:
        await exporter.client.aclose()


class _Sink:
    async def send_all(self, records: Any) -> None:
        pass


async def test_a_build_against_a_redis_that_is_gone_raises_a_redis_error(settings: Settings) -> None:
    """The exporter answers 503 on RedisError/OSError: the concurrent reads must raise one of those."""
    from redis.exceptions import RedisError

    from cxpulse.procs import free_port

    gone = WindowStore(connect(f"redis://127.0.0.1:{free_port()}/0"), settings.app_id)
    try:
        with pytest.raises((RedisError, OSError)):
            await build_snapshot(gone, settings)
    finally:
        await gone.client.aclose()

