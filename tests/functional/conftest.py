"""Fixtures for tests that run components in-process against the session's real Redis."""

from __future__ import annotations

import pytest

from cxpulse.embedded import Service
from cxpulse.settings import Settings, load_settings
from processors.store import WindowStore, connect


@pytest.fixture
async def store(redis_service: Service, app_id: str):  # type: ignore[no-untyped-def]
    client = connect(redis_service.url)
    yield WindowStore(client, app_id)
    await client.aclose()


@pytest.fixture
def settings(app_id: str) -> Settings:
    return load_settings(app_id=app_id)
