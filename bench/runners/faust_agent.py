"""Faust baselines: a no-op agent, or the naive agent with a Table update per event.

``consumer``: ``stock`` (Faust's own drain loop) or ``fast``
(``processors.fast_consumer``), so the harness measures the fix on its own;
``raw_schema`` (with ``Monitor`` in ``faust_options``): ``processors.faust_lean``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.runners import Meter, emit, spec_from_argv


def build(spec: dict[str, Any]) -> Any:
    import faust

    options: dict[str, Any] = dict(
        broker=f"kafka://{spec['bootstrap']}",
        store="memory://",
        topic_partitions=spec["partitions"],
        topic_disable_leader=True,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        producer_acks=1,
        # not "<group>-data" in whatever directory the harness was started from
        datadir=str(Path(spec.get("workdir") or tempfile.gettempdir()) / f"faust-{spec['group']}"),
    )
    options.update(spec.get("faust_options", {}))
    app = faust.App(spec["group"], **options)
    if spec.get("consumer") == "fast":
        from processors.fast_consumer import install

        assert install(app), "fast consumer refused (see log)"
    if spec.get("raw_schema"):
        from processors.faust_lean import RawSchema

        topic = app.topic(*spec["topics"], schema=RawSchema())
    else:
        topic = app.topic(*spec["topics"], value_serializer="raw", key_serializer="raw")
    meter = Meter(spec["expected"])

    def done() -> None:
        consumer = app.consumer
        emit(meter.result(
            fast_path=getattr(consumer, "fast_path_messages", None),
            slow_path=getattr(consumer, "slow_path_messages", None),
        ))
        os._exit(0)  # the result is out; nothing to flush worth waiting for

    if spec["mode"] == "table":
        counts = app.Table("counts", default=int, partitions=spec["partitions"])

        @app.agent(topic)
        async def count(stream: Any) -> None:
            async for event in stream.events():
                counts[event.key] += 1
                if meter.add():
                    done()
    else:

        @app.agent(topic)
        async def noop(stream: Any) -> None:
            async for _value in stream:
                if meter.add():
                    done()

    return app


def main() -> None:
    spec = spec_from_argv()
    logging.basicConfig(level=logging.WARNING)
    from faust.worker import Worker

    app = build(spec)
    deadline = time.monotonic() + spec.get("timeout", 600)
    app.timer(5.0)(_watchdog(deadline))
    Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()


def _watchdog(deadline: float) -> Any:
    async def check() -> None:
        if time.monotonic() > deadline:
            emit({"error": "timeout"})
            os._exit(3)

    return check


if __name__ == "__main__":
    main()
