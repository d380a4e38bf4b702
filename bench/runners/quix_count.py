"""Baseline: Quix Streams, a 60 s tumbling-window count per message key.

Runs under any interpreter with ``quixstreams`` (3.x) installed. On Tansu it needs
two settings (docs/performance.md): the input topics are created with
``retention.ms`` set (the harness does), and short group session timeouts.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import timedelta
from typing import Any

from bench.runners import Meter, _version, emit, spec_from_argv


def main() -> None:
    spec = spec_from_argv()
    from quixstreams import Application

    meter = Meter(spec["expected"])
    state = tempfile.mkdtemp(prefix="bench-quix-")
    app = Application(
        broker_address=spec["bootstrap"],
        consumer_group=spec["group"],
        auto_offset_reset="earliest",
        state_dir=state,
        loglevel="WARNING",
        consumer_extra_config={"session.timeout.ms": 2000, "heartbeat.interval.ms": 500},
        **spec.get("options", {}),
    )

    def count(_value: Any) -> None:
        if meter.add():
            app.stop()

    for name in spec["topics"]:
        topic = app.topic(name, value_deserializer="json", key_deserializer="str")
        sdf = app.dataframe(topic)
        sdf = sdf.update(count)
        if spec.get("window", True):
            sdf = sdf.tumbling_window(timedelta(seconds=60)).count().final()
    deadline = time.monotonic() + spec.get("timeout", 600)

    import threading

    def watchdog() -> None:
        while time.monotonic() < deadline:
            time.sleep(1)
            if meter.events >= meter.expected:
                return
        emit({"error": "timeout", **meter.result()})
        os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    app.run()
    emit(meter.result(version=_version("quixstreams")))
    os._exit(0)


if __name__ == "__main__":
    main()
