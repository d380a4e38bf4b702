"""processors/faust_lean.py: bytes pass through untouched, the monitor keeps its totals,
and the worker's app is built with both."""

from __future__ import annotations

import faust
from faust.types import TP, Message

from cxpulse.settings import load_settings
from processors.app import create_app
from processors.faust_lean import LeanMonitor, RawSchema


def message(key: bytes | None, value: bytes | None) -> Message:
    return Message(topic="cx.calls", partition=1, offset=42, timestamp=0.0, timestamp_type=0, headers=[],
                   key=key, value=value, checksum=None)


def test_raw_schema_hands_over_the_bytes_as_they_arrived() -> None:
    app = faust.App("t-lean", broker="kafka://127.0.0.1:1", store="memory://")
    schema = RawSchema()
    raw = b'{"not": "validated here", \xff}'  # not even UTF-8: the worker judges it, not Faust
    msg = message(b"call-1", raw)
    assert schema.loads_key(app, msg) is msg.key
    assert schema.loads_value(app, msg) is raw
    assert schema.loads_value(app, message(None, None)) is None


def test_lean_monitor_counts_without_per_event_state() -> None:
    monitor = LeanMonitor()
    tp = TP("cx.calls", 0)
    msg = message(None, b"{}")
    for offset in range(3):
        monitor.on_message_in(tp, offset, msg)
        state = monitor.on_stream_event_in(tp, offset, None, None)  # type: ignore[arg-type]
        monitor.on_stream_event_out(tp, offset, None, None, state)  # type: ignore[arg-type]
        monitor.on_message_out(tp, offset, msg)
    assert monitor.messages_received_total == 3 and monitor.events_total == 3
    assert state is None and not monitor.events_runtime and not monitor.messages_received_by_topic


def test_the_worker_app_uses_both() -> None:
    app = create_app(load_settings(app_id="t-lean-app"))
    assert isinstance(app.monitor, LeanMonitor)
    topics = [agent.channel for agent in app.agents.values()]
    assert topics and all(isinstance(t.schema, RawSchema) for t in topics)
