"""Baseline: Bytewax, JSON decode and a 60 s tumbling-window count per message key.

Runs under any interpreter with ``bytewax[kafka]`` (0.21) installed. The Kafka
source reads every partition from the beginning up to the end offsets found at
start (``tail=False``), so the dataflow ends by itself once the workload is read.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from bench.runners import Meter, _version, emit, spec_from_argv


def main() -> None:
    spec = spec_from_argv()
    import bytewax.operators as op
    import bytewax.operators.windowing as win
    from bytewax.connectors.kafka import KafkaSource
    from bytewax.dataflow import Dataflow
    from bytewax.operators.windowing import SystemClock, TumblingWindower
    from bytewax.testing import run_main

    meter = Meter(spec["expected"])
    flow = Dataflow("bench")
    source = op.input("kafka", flow, KafkaSource([spec["bootstrap"]], spec["topics"], tail=False))

    def decode(msg: Any) -> tuple[str, Any]:
        meter.add()
        return (msg.key or b"").decode(), json.loads(msg.value)

    events = op.map("decode", source, decode)
    align = datetime(2024, 1, 1, tzinfo=timezone.utc)
    counted = win.count_window(
        "count", events, SystemClock(), TumblingWindower(length=timedelta(seconds=60), align_to=align),
        lambda item: item[0],
    )
    windows = {"n": 0}
    op.inspect("sink", counted.down, lambda _step, _item: windows.__setitem__("n", windows["n"] + 1))
    run_main(flow)
    meter.last = time.perf_counter()  # the final windows are emitted at end of input
    emit(meter.result(windows=windows["n"], version=_version("bytewax")))


if __name__ == "__main__":
    main()
