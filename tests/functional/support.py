"""What the store tests share: a fixed "now", the default bucket TTLs, and an event
``ago`` seconds before it, validated as the worker would."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from streams.decode import validate_object

NOW = time.time()
TTLS = {"m": 3 * 3600, "h": 8 * 86400, "d": 400 * 86400}


def ev(stream: str, eid: str, type_: str, ago: float, **fields: Any) -> Any:
    occurred = datetime.fromtimestamp(NOW, timezone.utc) - timedelta(seconds=ago)
    event = validate_object({"event_id": eid, "type": type_, "occurred_at": occurred.isoformat(), **fields}, stream)
    assert not hasattr(event, "reason"), event
    return event
