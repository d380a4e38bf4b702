"""The Redis windowed tables on a real redis-server: idempotency, live state, expiry."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from cxpulse.settings import Settings, load_settings
from processors import keys
from processors.fold import fold
from processors.store import STATUS_CONFLICT, STATUS_DUPLICATE, STATUS_NEW, STATUS_REPLAY, Source, WindowStore
from processors.windows import bucket_of, window_buckets
from streams.decode import validate_object

NOW = time.time()


def call(event_id: str, type_: str, seconds_ago: float, **fields: Any) -> Any:
    obj = {
        "event_id": event_id,
        "type": type_,
        "occurred_at": (datetime.fromtimestamp(NOW, timezone.utc) - timedelta(seconds=seconds_ago)).isoformat(),
        "queue": "sales",
        "channel": "voice",
        **fields,
    }
    event = validate_object(obj, "calls")
    assert not hasattr(event, "reason"), event
    return event


def src(offset: int, partition: int = 0) -> Source:
    return Source("cx.calls", partition, offset)


async def totals(store: WindowStore) -> dict[str, float]:
    readout = await store.read("calls", [])
    return readout.totals.get("sales|voice", {})


async def test_replay_duplicate_and_conflict_are_told_apart(store: WindowStore, settings: Settings) -> None:
    queued = call("e1", "call.queued", 30, call_id="c1")
    batch = [(fold(settings, "calls", queued), src(0))]
    assert await store.apply(NOW, batch) == [STATUS_NEW]
    # the same message again (a replay after a crash): nothing counted twice
    assert await store.apply(NOW, batch) == [STATUS_REPLAY]
    # the same event published twice (another offset): a duplicate
    assert await store.apply(NOW, [(fold(settings, "calls", queued), src(7))]) == [STATUS_DUPLICATE]
    # the same id reused for different content: a conflict, not counted
    other = call("e1", "call.queued", 30, call_id="c-other")
    assert await store.apply(NOW, [(fold(settings, "calls", other), src(8))]) == [STATUS_CONFLICT]
    # replaying the duplicate and the conflict does not count them again
    await store.apply(NOW, [(fold(settings, "calls", queued), src(7)), (fold(settings, "calls", other), src(8))])

    assert (await totals(store))["offered"] == 1
    health = await store.health()
    assert health["cx.calls|processed"] == 1
    assert health["cx.calls|replayed"] == 1
    assert health["cx.calls|duplicate"] == 1
    assert health["cx.calls|rejected|conflict"] == 1
    # per partition, only what was folded: the replay, duplicate and conflict are not
    assert await store.partitions() == {"cx.calls": {"0": 1.0}}
    # the script builds marker keys from a prefix and the source: the same keys Python checks
    assert await store.already_dead_lettered([src(7), src(8), src(0), src(99)]) == {src(7), src(8)}
    indexed = Source("cx.calls", 0, 11, index=3)  # an event inside an envelope
    assert await store.apply(NOW, [(fold(settings, "calls", queued), indexed)]) == [STATUS_DUPLICATE]
    assert await store.already_dead_lettered([indexed, Source("cx.calls", 0, 11, index=4)]) == {indexed}


async def test_batch_counts_go_to_every_bucket_with_expiry(store: WindowStore, settings: Settings) -> None:
    answered = call("e2", "call.answered", 10, call_id="c2", wait_seconds=12.5)
    update = fold(settings, "calls", answered)
    await store.apply(NOW, [(update, src(1))])
    ts = answered.occurred_at.timestamp()
    for res in ("m", "h", "d"):
        key = keys.bucket(settings.app_id, "calls", bucket_of(ts, res))
        assert float(await store.client.hget(key, "sales|voice|answer_wait_seconds")) == 12.5
        ttl = await store.client.ttl(key)
        assert ttl > 0, f"{res} bucket has no expiry"
    assert await store.client.ttl(keys.totals(settings.app_id, "calls")) == -1  # totals never expire
    readout = await store.read("calls", window_buckets("5m", NOW, settings.zone))
    assert readout.window(window_buckets("5m", NOW, settings.zone))["sales|voice"]["answered_within_sl"] == 1


async def test_waiting_set_survives_out_of_order_lifecycle(store: WindowStore, settings: Settings) -> None:
    events = [
        # c3: answer arrives before its queued event (published out of order)
        call("a3", "call.answered", 20, call_id="c3", wait_seconds=5),
        call("q3", "call.queued", 25, call_id="c3"),
        # c4 waits; c5 waited and abandoned
        call("q4", "call.queued", 40, call_id="c4"),
        call("q5", "call.queued", 30, call_id="c5"),
        call("b5", "call.abandoned", 10, call_id="c5", wait_seconds=20),
    ]
    await store.apply(NOW, [(fold(settings, "calls", e), src(i)) for i, e in enumerate(events)])
    waiting = await store.waiting(["sales|voice"])
    count, oldest = waiting["sales|voice"]
    assert count == 1
    assert oldest == pytest.approx(NOW - 40, abs=1e-3)


@pytest.mark.parametrize("one_batch", [False, True], ids=["batch-per-contact", "one-batch"])
@pytest.mark.parametrize("arrival", ["ABC", "ACB", "BAC", "BCA", "CAB", "CBA"])
async def test_repeat_contacts_are_credited_once_in_any_arrival_order(
    store: WindowStore, settings: Settings, arrival: str, one_batch: bool
) -> None:
    """Contacts A (t-300), C (t-200), B (t-100) of one customer and reason.

    Final truth: C and B are repeats (each has an earlier contact within the
    window); A and C are followed by a repeat. So repeat_contacts = 2 and
    followed_by_repeat = 2, whatever order they arrive in (they can sit on
    different partitions). In one batch on an empty Redis, the credited buckets
    exist only as counts the script has not written yet: they must still count.
    """
    ago = {"A": 300, "C": 200, "B": 100}

    def completed(eid: str) -> Any:
        return call(eid, "call.completed", ago[eid], call_id=f"call-{eid}", talk_seconds=30,
                    customer_id="cust-1", contact_reason="billing")

    answers = [call(f"ans-{eid}", "call.answered", ago[eid] + 60, call_id=f"call-{eid}", wait_seconds=5) for eid in "ABC"]
    first = [(fold(settings, "calls", e), src(100 + i)) for i, e in enumerate(answers)]
    then = [(fold(settings, "calls", completed(eid)), src(i)) for i, eid in enumerate(arrival)]
    if one_batch:
        await store.apply(NOW, first + then)
    else:
        await store.apply(NOW, first)
        for update in then:
            await store.apply(NOW, [update])
    t = await totals(store)
    assert t["fcr_eligible"] == 3
    assert t["repeat_contacts"] == 2
    assert t["followed_by_repeat"] == 2


async def test_contacts_outside_the_window_are_not_repeats(store: WindowStore, app_id: str) -> None:
    settings = load_settings(app_id=app_id, fcr_repeat_window_days=1 / 86400 * 50)  # a 50 s window
    answers = [call(f"A{i}", "call.answered", 300, call_id=f"x{i}", wait_seconds=5) for i in (1, 2)]
    first = call("F1", "call.completed", 200, call_id="x1", talk_seconds=5, customer_id="c", contact_reason="r")
    second = call("F2", "call.completed", 100, call_id="x2", talk_seconds=5, customer_id="c", contact_reason="r")
    events = [*answers, first, second]
    await store.apply(NOW, [(fold(settings, "calls", e), src(i)) for i, e in enumerate(events)])
    t = await totals(store)
    assert t.get("repeat_contacts", 0) == 0
    assert t.get("followed_by_repeat", 0) == 0


async def test_rejections_are_counted_once_per_offset(store: WindowStore) -> None:
    from processors.store import RejectionMark

    mark = RejectionMark(src(42), "malformed_json")
    assert await store.apply(NOW, [], [mark]) == [0]
    assert await store.apply(NOW, [], [mark]) == [1]
    assert await store.already_dead_lettered([src(42), src(43)]) == {src(42)}
    assert (await store.health())["cx.calls|rejected|malformed_json"] == 1


async def test_impossible_lifecycles_are_rejected_and_counted_once(store: WindowStore, settings: Settings) -> None:
    from processors.store import STATUS_OUT_OF_ORDER

    events = [
        # L1: answered 30 s BEFORE it was queued (in event time): impossible
        call("L1-q", "call.queued", 20, call_id="L1"),
        call("L1-a", "call.answered", 50, call_id="L1", wait_seconds=1),
        # L2: completed without ever being answered
        call("L2-q", "call.queued", 60, call_id="L2"),
        call("L2-d", "call.completed", 10, call_id="L2", talk_seconds=30),
        # L3: published in reverse order but possible in event time: accepted
        call("L3-a", "call.answered", 40, call_id="L3", wait_seconds=10),
        call("L3-q", "call.queued", 50, call_id="L3"),
        # L4: queued after its abandon in event time: impossible
        call("L4-x", "call.abandoned", 80, call_id="L4", wait_seconds=2),
        call("L4-q", "call.queued", 30, call_id="L4"),
    ]
    batch = [(fold(settings, "calls", e), src(i)) for i, e in enumerate(events)]
    statuses = await store.apply(NOW, batch)
    assert statuses == [STATUS_NEW, STATUS_OUT_OF_ORDER, STATUS_NEW, STATUS_OUT_OF_ORDER,
                        STATUS_NEW, STATUS_NEW, STATUS_NEW, STATUS_OUT_OF_ORDER]
    assert await store.apply(NOW, batch) == [STATUS_REPLAY, STATUS_OUT_OF_ORDER, STATUS_REPLAY, STATUS_OUT_OF_ORDER,
                                             STATUS_REPLAY, STATUS_REPLAY, STATUS_REPLAY, STATUS_OUT_OF_ORDER]
    t = await totals(store)
    assert t["offered"] == 3 and t["answered"] == 1 and t["abandoned"] == 1 and t.get("handled", 0) == 0
    assert (await store.health())["cx.calls|rejected|out_of_order"] == 3  # not 6: a replay is not a new rejection


async def test_a_batch_with_more_segments_than_one_sadd_takes(store: WindowStore, settings: Settings) -> None:
    """The script adds a batch's segments to their set at the end, in slices (Lua's
    unpack() has a stack limit): every one of 2,500 queues must be there, once."""
    queues = [f"q{i:04d}" for i in range(2500)]
    batch = [(fold(settings, "calls", call(f"seg-{q}", "call.queued", 5, call_id=f"c-{q}", queue=q)), src(i))
             for i, q in enumerate(queues)]
    batch += [(fold(settings, "calls", call("seg-again", "call.queued", 5, call_id="c-again", queue=queues[0])), src(9999))]
    assert set(await store.apply(NOW, batch)) == {STATUS_NEW}
    readout = await store.read("calls", [])
    assert readout.segments == sorted(f"{q}|voice" for q in queues)
    assert readout.totals[f"{queues[0]}|voice"]["offered"] == 2


async def test_processed_counts_per_partition_in_partition_order(store: WindowStore, settings: Settings) -> None:
    batch = [
        (fold(settings, "calls", call(f"p{p}-{i}", "call.queued", 30, call_id=f"c{p}-{i}")), Source("cx.calls", p, i))
        for p, n in ((10, 1), (2, 3), (0, 2))
        for i in range(n)
    ]
    assert await store.apply(NOW, batch) == [STATUS_NEW] * 6
    # ordered by number, not as text ("10" after "2"); the topic's own count is their sum
    assert list((await store.partitions())["cx.calls"].items()) == [("0", 2.0), ("2", 3.0), ("10", 1.0)]
    assert (await store.health())["cx.calls|processed"] == 6
