"""Survey, ticket and cart state in real Redis: attribution, backlog, cart timer."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from cxpulse.settings import Settings, load_settings
from processors import keys
from processors.fold import fold
from processors.store import Source, WindowStore
from tests.functional.support import NOW, TTLS, ev


async def apply(store: WindowStore, settings: Settings, stream: str, *events: Any) -> list[int]:
    return await store.apply(NOW, [(fold(settings, stream, e), Source(f"cx.{stream}", 0, i)) for i, e in enumerate(events)])


async def test_survey_is_attributed_to_its_calls_queue_and_agent(store: WindowStore, settings: Settings) -> None:
    await apply(store, settings, "calls",
                ev("calls", "a1", "call.answered", 120, call_id="call-1", queue="billing", agent_id="ann", wait_seconds=3),
                ev("calls", "d1", "call.completed", 60, call_id="call-1", queue="billing", agent_id="ann", talk_seconds=30))
    await apply(store, settings, "surveys", ev("surveys", "s1", "survey.response", 10, survey_id="S1",
                                               survey_type="nps", score=2, contact_id="call-1", touchpoint="email"))
    surveys = await store.read("surveys", [])
    assert surveys.segments == ["billing|voice|email"]
    assert surveys.totals["billing|voice|email"]["nps_detractors"] == 1
    agents = await store.read("surveys_agents", [])
    assert agents.totals["ann"]["nps_responses"] == 1
    assert (await store.nps_last(surveys.segments)) == {"billing|voice|email": ["d"]}


async def test_survey_for_an_unknown_contact_stays_unattributed(store: WindowStore, settings: Settings) -> None:
    await apply(store, settings, "surveys", ev("surveys", "s2", "survey.response", 10, survey_id="S2",
                                               survey_type="csat", score=5, scale_min=1, scale_max=5, contact_id="nope"))
    surveys = await store.read("surveys", [])
    assert surveys.segments == ["-|voice|-"]
    assert (await store.read("surveys_agents", [])).segments == []


async def test_last_n_keeps_the_newest(store: WindowStore, app_id: str) -> None:
    settings = load_settings(app_id=app_id, nps_last_n=3)
    events = [ev("surveys", f"n{i}", "survey.response", 50 - i, survey_id=f"N{i}", survey_type="nps", score=score,
                 queue="sales") for i, score in enumerate([10, 10, 0, 8, 9])]
    await apply(store, settings, "surveys", *events)
    assert await store.nps_last(["sales|voice|-"]) == {"sales|voice|-": ["p", "s", "d"]}


async def test_backlog_follows_create_resolve_reopen(store: WindowStore, settings: Settings) -> None:
    created = datetime.fromtimestamp(NOW - 7200, timezone.utc).isoformat()
    await apply(store, settings, "tickets",
                ev("tickets", "t1", "ticket.created", 7200, ticket_id="T1"),
                ev("tickets", "t2", "ticket.created", 3600, ticket_id="T2"),
                ev("tickets", "t3", "ticket.resolved", 60, ticket_id="T1", created_at=created))
    backlog = keys.open_tickets(settings.app_id, "support|email")
    assert await store.oldest({"s": backlog}) == {"s": (1, pytest.approx(NOW - 3600, abs=1e-3))}
    await apply(store, settings, "tickets", ev("tickets", "t4", "ticket.reopened", 30, ticket_id="T1", created_at=created))
    assert await store.oldest({"s": backlog}) == {"s": (2, pytest.approx(NOW - 7200, abs=1e-3))}


async def test_a_reassigned_ticket_moves_to_its_new_queues_backlog(store: WindowStore, settings: Settings) -> None:
    created = datetime.fromtimestamp(NOW - 7200, timezone.utc).isoformat()
    old = keys.open_tickets(settings.app_id, "support|email")
    new = keys.open_tickets(settings.app_id, "billing|email")
    await apply(store, settings, "tickets",
                ev("tickets", "r1", "ticket.created", 7200, ticket_id="R1"),
                ev("tickets", "r2", "ticket.reassigned", 3600, ticket_id="R1", to_queue="billing"))
    # open since its creation, now in billing's backlog only
    assert await store.oldest({"old": old, "new": new}) == {
        "old": (0, None), "new": (1, pytest.approx(NOW - 7200, abs=1e-3))}
    # its resolution names the new queue, and empties that backlog
    await apply(store, settings, "tickets", ev("tickets", "r3", "ticket.resolved", 60, ticket_id="R1",
                                               queue="billing", created_at=created))
    assert await store.oldest({"old": old, "new": new}) == {"old": (0, None), "new": (0, None)}
    # a reassignment arriving after the resolution does not bring it back
    await apply(store, settings, "tickets", ev("tickets", "r4", "ticket.reassigned", 30, ticket_id="R1",
                                               queue="billing", to_queue="support"))
    assert await store.oldest({"old": old, "new": new}) == {"old": (0, None), "new": (0, None)}


async def test_cart_timer_counts_each_idle_cart_once(store: WindowStore, settings: Settings) -> None:
    await apply(store, settings, "carts",
                ev("carts", "k1", "cart.created", 4000, cart_id="K1"),
                ev("carts", "k2", "cart.item_added", 3900, cart_id="K1", sku="A"),  # last activity of K1
                ev("carts", "k3", "cart.created", 4000, cart_id="K2"),
                ev("carts", "k4", "checkout.completed", 3950, cart_id="K2", amount=10),  # completed: never idle
                ev("carts", "k5", "cart.created", 60, cart_id="K3"))  # recent: still open
    assert await store.open_carts() == {"web": 2}
    assert await store.expire_carts(NOW, 1800, TTLS) == 1
    assert await store.expire_carts(NOW, 1800, TTLS) == 0  # a second timer run (another worker) counts nothing
    totals = (await store.read("carts", [])).totals["web"]
    assert totals["abandoned_timeout"] == 1 and totals["completed"] == 1 and totals["created"] == 3
    assert await store.open_carts() == {"web": 1}
    # the abandonment lands in the minute the cart became idle for 30 min
    became = NOW - 3900 + 1800
    minute = int(became // 60 * 60)
    assert float(await store.client.hget(f"{settings.app_id}:carts:m:{minute}", "web|abandoned_timeout")) == 1
    # an explicit abandon of a cart the timer already counted is not counted again
    await apply(store, settings, "carts", ev("carts", "k6", "cart.abandoned", 10, cart_id="K1"))
    assert (await store.read("carts", [])).totals["web"].get("abandoned_explicit", 0) == 0
    # ... but one of an open cart is, and the cart leaves the open set
    await apply(store, settings, "carts", ev("carts", "k7", "cart.abandoned", 5, cart_id="K3"))
    assert (await store.read("carts", [])).totals["web"]["abandoned_explicit"] == 1
    assert await store.open_carts() == {}


async def test_late_touch_does_not_rewind_a_carts_activity(store: WindowStore, settings: Settings) -> None:
    await apply(store, settings, "carts",
                ev("carts", "l1", "cart.item_added", 100, cart_id="L1", sku="A"),
                ev("carts", "l2", "cart.created", 2500, cart_id="L1"))  # arrives late, older time
    assert await store.expire_carts(NOW, 1800, TTLS) == 0


async def test_a_ticket_counts_as_escalated_once_whatever_its_first_level(store: WindowStore, settings: Settings) -> None:
    await apply(store, settings, "tickets",
                ev("tickets", "x1", "ticket.escalated", 50, ticket_id="T9", level=2),
                ev("tickets", "x2", "ticket.escalated", 40, ticket_id="T9", level=3),
                ev("tickets", "x3", "ticket.escalated", 30, ticket_id="T8", level=1))
    assert (await store.read("tickets", [])).totals["support|email"]["escalated"] == 2


async def test_an_unknown_csat_scale_is_dead_lettered_with_a_reason(store: WindowStore, app_id: str) -> None:
    from processors.batch import BatchProcessor, RawMessage

    class Sink:
        records: list = []

        async def send_all(self, records):  # type: ignore[no-untyped-def]
            self.records.extend(records)

    settings = load_settings(app_id=app_id, csat_satisfied={"1-5": [4, 5]})
    raw = ('{"event_id": "z1", "type": "survey.response", "occurred_at": "%s", "survey_id": "Z", '
           '"survey_type": "csat", "score": 6, "scale_min": 1, "scale_max": 7}'
           % datetime.now(timezone.utc).isoformat()).encode()
    sink = Sink()
    result = await BatchProcessor(settings, store, sink).process("surveys", [RawMessage(raw, Source("cx.surveys", 0, 1))])
    assert result.rejected == {"invalid": 1}
    assert b"csat_satisfied" in sink.records[0][1]
