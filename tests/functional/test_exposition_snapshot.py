"""/metrics of a snapshot with every stream in it: the fast writer and the library agree."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from bench.workload import generate as generate_workload
from cxpulse.settings import Settings
from exporters.collector import SnapshotCollector
from exporters.exposition import generate
from exporters.snapshot import build_snapshot
from processors.batch import BatchProcessor, RawMessage
from processors.store import Source, WindowStore


class _Sink:
    async def send_all(self, records) -> None:  # type: ignore[no-untyped-def]
        pass


async def test_a_snapshot_of_every_stream_renders_byte_for_byte(store: WindowStore, settings: Settings) -> None:
    workload = generate_workload(3000, span_seconds=300)
    processor = BatchProcessor(settings, store, _Sink(), followups=_Sink())
    for stream, items in workload.events.items():
        messages = [RawMessage(v, Source(f"t.{stream}", 0, i), k) for i, (k, v) in enumerate(items)]
        await processor.process(stream, messages)
    snapshot = await build_snapshot(store, settings)
    assert all(snapshot[s]["segments"] for s in ("calls", "surveys", "tickets", "carts"))

    families = list(SnapshotCollector(snapshot).collect())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    expected = generate_latest(registry)
    assert expected.count(b"\n") > 500
    assert generate(families) == expected
    assert generate(families) == expected  # rendered label sets reused
