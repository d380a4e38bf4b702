"""The Faust agents through ``test_context()``: real Faust stream machinery and real Redis,
with the broker replaced by Faust's in-memory test channel."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Sequence

import orjson

from cxpulse.embedded import Service
from cxpulse.settings import load_settings
from processors.app import create_app
from processors.store import WindowStore, connect


class ListSink:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []

    async def send_all(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        self.records.extend(records)


def event(eid: str, type_: str, **fields: object) -> bytes:
    occurred = datetime.now(timezone.utc) - timedelta(seconds=5)
    return orjson.dumps({"event_id": eid, "type": type_, "occurred_at": occurred.isoformat(),
                         "queue": "support", "channel": "chat", **fields})


async def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


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
