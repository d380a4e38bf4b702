"""The Faust agents through ``test_context()``: real Faust stream machinery and real Redis,
with the broker replaced by Faust's in-memory test channel."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Sequence

import faust
import orjson
import pytest

from cxpulse.embedded import Service
from cxpulse.settings import Settings, load_settings
from processors import keys
from processors.app import create_app
from processors.store import WindowStore, connect


class ListSink:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []

    async def send_all(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        self.records.extend(records)


AGO = timedelta(seconds=5)


def event(eid: str, type_: str, **fields: object) -> bytes:
    """An event of 5 s ago on support/chat; a field given as None is left out (carts have no queue)."""
    occurred = datetime.now(timezone.utc) - AGO
    body = {"event_id": eid, "type": type_, "occurred_at": occurred.isoformat(),
            "queue": "support", "channel": "chat", **fields}
    return orjson.dumps({name: value for name, value in body.items() if value is not None})


async def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def feed(app: faust.App, stream: str, store: WindowStore, values: Sequence[bytes], processed: int) -> None:
    """Put ``values`` through the stream's agent; return once ``processed`` events are stored."""
    async with app.agents[f"cxpulse.{stream}"].test_context() as test_agent:
        for value in values:
            await test_agent.put(value=value, key=orjson.loads(value)["event_id"].encode(), wait=False)

        async def done() -> bool:
            health = await store.health()
            return sum(v for k, v in health.items() if k.endswith("|processed")) == processed
        await wait_for(done)


def agent_settings(redis_service: Service, app_id: str, **extra: object) -> Settings:
    return load_settings(app_id=app_id, redis_url=redis_service.url, batch_within_seconds=0.05, **extra)


async def test_surveys_agent_normalises_variants_and_sends_detractors_to_follow_up(
    redis_service: Service, app_id: str
) -> None:
    followups, dead = ListSink(), ListSink()
    app = create_app(agent_settings(redis_service, app_id), dead_letters=dead, followups=followups)
    store = WindowStore(connect(redis_service.url), app_id)
    survey = {"touchpoint": "call", "agent_id": "a-7", "customer_id": "cust-9", "contact_id": "c-42"}
    try:
        await feed(app, "surveys", store, [
            event("s1", "survey.sent", survey_id="S1", survey_type="nps", **survey),
            event("s2", "survey.response", survey_id="S1", survey_type="nps", score=3, **survey),  # detractor
            event("s3", "survey.response", survey_id="S2", survey_type="nps", score=10, scale_min=1, **survey),
            event("s4", "survey.response", survey_id="S3", survey_type="csat", score=1, scale_min=0, scale_max=1,
                  **survey),  # yes/no: yes
            event("s5", "survey.response", survey_id="S4", survey_type="ces", score=2, scale_min=1, scale_max=5,
                  polarity="lower_is_better", **survey),  # little effort: 5.5 of 7, easy
        ], processed=5)
        totals = (await store.read("surveys", [])).totals["support|chat|call"]
        assert totals["sent_nps"] == 1 and totals["responses_nps"] == 2 and totals["nps_responses"] == 2
        assert totals["nps_detractors"] == 1 and totals["nps_promoters"] == 1
        assert totals["csat_responses"] == 1 and totals["csat_satisfied"] == 1 and totals["csat_score"] == 5
        assert totals["ces_responses"] == 1 and totals["ces_easy"] == 1 and totals["ces_score"] == 5.5
        per_agent = (await store.read("surveys_agents", [])).totals["a-7"]
        assert per_agent["nps_responses"] == 2 and per_agent["ces_score"] == 5.5
        assert len(followups.records) == 1 and dead.records == []
        key, value = followups.records[0]
        record = orjson.loads(value)
        assert key == b"cust-9"
        assert (record["reason"], record["event_id"], record["contact_id"]) == ("nps_detractor", "s2", "c-42")
    finally:
        await store.client.aclose()


async def test_tickets_agent_folds_times_categories_and_backlog(redis_service: Service, app_id: str) -> None:
    app = create_app(agent_settings(redis_service, app_id), dead_letters=ListSink())
    store = WindowStore(connect(redis_service.url), app_id)
    created_at = (datetime.now(timezone.utc) - AGO - timedelta(hours=2)).isoformat()
    try:
        await feed(app, "tickets", store, [
            event("t1", "ticket.created", ticket_id="T1", category="billing"),
            event("t2", "ticket.created", ticket_id="T2", category="billing"),
            event("t3", "ticket.first_response", ticket_id="T3", created_at=created_at),
            event("t4", "ticket.resolved", ticket_id="T3", created_at=created_at, contact_count=1),
            event("t5", "ticket.escalated", ticket_id="T2", level=2),
            event("t6", "ticket.closed", ticket_id="T1"),
        ], processed=6)
        totals = (await store.read("tickets", [])).totals["support|chat"]
        assert totals["created"] == 2 and totals["cat:billing"] == 2 and totals["escalated"] == 1
        # 2 h, give or take the microseconds between building created_at and each event
        assert totals["first_responses"] == 1 and totals["first_response_seconds"] == pytest.approx(7200, abs=0.1)
        assert totals["resolved"] == 1 and totals["resolution_seconds"] == pytest.approx(7200, abs=0.1)
        assert totals["resolved_first_contact"] == 1 and totals["closed"] == 1
        # T1 closed, T3 never created here: only T2 is open
        backlog = await store.oldest({"s": keys.open_tickets(app_id, "support|chat")})
        count, oldest = backlog["s"]
        assert count == 1
        assert abs(oldest - (datetime.now(timezone.utc) - AGO).timestamp()) < 5
    finally:
        await store.client.aclose()


async def test_carts_agent_folds_orders_and_its_timer_abandons_idle_carts(redis_service: Service, app_id: str) -> None:
    # events are 5 s old: a 2 s timeout makes the idle cart due at the first timer run
    app = create_app(agent_settings(redis_service, app_id, cart_abandon_timeout_seconds=2), dead_letters=ListSink())
    store = WindowStore(connect(redis_service.url), app_id)
    cart = {"queue": None, "channel": "web"}
    try:
        await feed(app, "carts", store, [
            event("k1", "cart.created", cart_id="C1", **cart),
            event("k2", "cart.item_added", cart_id="C1", sku="sku-1", quantity=2, unit_price=12.5, **cart),
            event("k3", "checkout.started", cart_id="C1", **cart),
            event("k4", "checkout.completed", cart_id="C1", amount=25.0, currency="EUR", **cart),
            event("k5", "cart.created", cart_id="C2", **cart),
            event("k6", "cart.abandoned", cart_id="C2", **cart),
            event("k7", "cart.created", cart_id="C3", **cart),  # left idle
        ], processed=7)
        totals = (await store.read("carts", [])).totals["web"]
        assert totals["created"] == 3 and totals["checkouts_started"] == 1 and totals["completed"] == 1
        assert totals["revenue:EUR"] == 25.0 and totals["orders:EUR"] == 1
        assert totals["abandoned_explicit"] == 1 and "abandoned_timeout" not in totals
        assert await store.open_carts() == {"web": 1}

        await app.cxpulse.expire_carts()  # the agent's timer, one tick
        totals = (await store.read("carts", [])).totals["web"]
        assert totals["abandoned_timeout"] == 1 and totals["abandoned_explicit"] == 1
        assert await store.open_carts() == {}
    finally:
        await store.client.aclose()


async def test_calls_agent_folds_dedupes_and_dead_letters(redis_service: Service, app_id: str) -> None:
    settings = load_settings(app_id=app_id, redis_url=redis_service.url, batch_within_seconds=0.05)
    sink = ListSink()
    app = create_app(settings, dead_letters=sink)
    agent = app.agents["cxpulse.calls"]
    store = WindowStore(connect(redis_service.url), app_id)
    try:
        queued = event("q1", "call.queued", call_id="c1")
        async with agent.test_context() as test_agent:
            for value in (
                queued,
                event("a1", "call.answered", call_id="c1", wait_seconds=8),
                queued,  # the same event published twice
                b"{broken",  # malformed
                event("t1", "ticket.created", ticket_id="T1"),  # wrong topic
            ):
                await test_agent.put(value=value, key=b"c1", wait=False)

            async def done() -> bool:
                health = await store.health()
                processed = sum(v for k, v in health.items() if k.endswith("|processed"))
                rejected = sum(v for k, v in health.items() if "|rejected|" in k)
                return processed == 2 and rejected == 2
            await wait_for(done)

        totals = (await store.read("calls", [])).totals["support|chat"]
        assert totals["offered"] == 1 and totals["answered"] == 1 and totals["answered_within_sl"] == 1
        reasons = sorted(orjson.loads(value)["reason"] for _, value in sink.records)
        assert reasons == ["malformed_json", "wrong_topic"]
        health = await store.health()
        assert sum(v for k, v in health.items() if k.endswith("|duplicate")) == 1
    finally:
        await store.client.aclose()
