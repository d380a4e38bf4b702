"""Broker -> worker -> Redis -> exporter, all real processes, with a known set of call events.

Every expected figure below is computed by hand from the event list, so a wrong
fold, a lost event or a double count fails the test.
"""

from __future__ import annotations

import base64
import re
import subprocess
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import orjson
import pytest

from cxpulse.settings import load_settings
from cxpulse.stack import LocalStack
from tests.conftest import require_binary
from tests.integration.support import consume, publish, wait_for
from tests.integration.support import samples as parse_samples

pytestmark = pytest.mark.integration

QUEUE, CHANNEL = "billing", "voice"
_T0: list[datetime] = []


def t0() -> datetime:
    """One event time for the module, fixed when its first test runs (not at import: a long
    suite would push the events out of the 5-minute window), so a resend is byte-identical."""
    if not _T0:
        _T0.append(datetime.now(timezone.utc))
    return _T0[0]


def _events(now: datetime) -> list[dict[str, Any]]:
    def at(seconds_ago: float) -> str:
        return (now - timedelta(seconds=seconds_ago)).isoformat()

    def ev(eid: str, type_: str, ago: float, call_id: str, **fields: Any) -> dict[str, Any]:
        return {"event_id": eid, "type": type_, "occurred_at": at(ago), "queue": QUEUE, "channel": CHANNEL,
                "call_id": call_id, **fields}

    return [
        # c1: answered in 10 s (within T=20), handled, agent-resolved, customer cu1 / reason r1
        ev("c1-q", "call.queued", 120, "c1"),
        ev("c1-a", "call.answered", 110, "c1", wait_seconds=10, agent_id="a1"),
        ev("c1-d", "call.completed", 60, "c1", agent_id="a1", talk_seconds=100, hold_seconds=20, acw_seconds=30,
           customer_id="cu1", contact_reason="r1", resolved=True),
        # c2: answered in 30 s (outside T), one transfer, not resolved, a repeat of c1
        ev("c2-q", "call.queued", 100, "c2"),
        ev("c2-a", "call.answered", 70, "c2", wait_seconds=30, agent_id="a2"),
        ev("c2-d", "call.completed", 20, "c2", agent_id="a2", talk_seconds=200, hold_seconds=0, acw_seconds=10,
           transfers=1, customer_id="cu1", contact_reason="r1", resolved=False),
        # c3: short abandon (3 s); c4: abandon after 40 s
        ev("c3-q", "call.queued", 90, "c3"),
        ev("c3-x", "call.abandoned", 87, "c3", wait_seconds=3),
        ev("c4-q", "call.queued", 80, "c4"),
        ev("c4-x", "call.abandoned", 40, "c4", wait_seconds=40),
        # c6: the out-of-order pair: its answer is published before its queued event
        ev("c6-a", "call.answered", 45, "c6", wait_seconds=5, agent_id="a3"),
        ev("c6-q", "call.queued", 50, "c6"),
        # c5: still waiting
        ev("c5-q", "call.queued", 15, "c5"),
    ]


EXPECTED_COUNTS = {
    "offered": 6, "answered": 3, "answered_within_sl": 2, "answer_wait_seconds": 45,
    "abandoned": 2, "short_abandoned": 1, "abandoned_within_sl": 1, "abandon_wait_seconds": 43,
    "handled": 2, "talk_seconds": 300, "hold_seconds": 20, "acw_seconds": 40,
    "transferred": 1, "transfers": 1, "fcr_flagged": 2, "fcr_resolved": 1, "fcr_eligible": 2,
    "repeat_contacts": 1, "followed_by_repeat": 1,
}
EXPECTED_KPIS = {
    "abandon_rate": (2 - 1) / (6 - 1),  # short abandons excluded from both sides
    "answer_rate": 3 / 6,
    "service_level": 2 / (3 + 2 - 1),  # answered within T / (answered + abandoned - short)
    "asa_seconds": 45 / 3,
    "aht_seconds": (300 + 20 + 40) / 2,
    "transfer_rate": 1 / 2,
    "fcr_agent_flag": 1 / 2,
    "fcr_repeat_contact": 1 - 1 / 2,
    "repeat_contact_rate": 1 / 2,
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    settings = load_settings(app_id="itest-calls", batch_within_seconds=0.05)
    with LocalStack(settings=settings) as local:
        local.start_infra()
        local.start_worker()
        local.start_exporter()
        yield local


def _wait_processed(stack: LocalStack, processed: int, rejected: int, timeout: float = 30.0) -> dict[str, Any]:
    def caught_up(snapshot: dict[str, Any]) -> bool:
        topic = snapshot["pipeline"]["topics"][stack.settings.topics.calls]
        return topic["processed"] >= processed and sum(topic["rejected"].values()) >= rejected

    return wait_for(stack, caught_up, "the calls pipeline", timeout)


def _dead_letters(stack: LocalStack, expected: int) -> list[dict[str, Any]]:
    return [value for _, value in consume(stack, stack.settings.topics.deadletter, expected)]


def test_known_call_events_give_exact_kpis(stack: LocalStack) -> None:
    now = t0()
    events = _events(now)
    duplicate = dict(events[0])  # c1 queued, published a second time
    invalid = {"event_id": "bad-1", "type": "call.answered", "occurred_at": now.isoformat(),
               "queue": QUEUE, "call_id": "c9"}  # wait_seconds missing
    publish(stack, [*events, duplicate], [orjson.dumps(invalid), b"{not json"])

    snapshot = _wait_processed(stack, processed=len(events), rejected=2)
    time.sleep(1.5)  # past the oldest snapshot the exporter may serve (2 periods + 2 builds): nothing else may arrive
    snapshot = stack.get_json("/api/kpis")

    (segment,) = [s for s in snapshot["calls"]["segments"] if (s["queue"], s["channel"]) == (QUEUE, CHANNEL)]
    for window in ("5m", "15m", "1h", "today"):
        entry = segment["windows"][window]
        assert entry["counts"] == pytest.approx(EXPECTED_COUNTS), window
        assert entry["kpis"] == pytest.approx(EXPECTED_KPIS), window
    assert segment["totals"] == pytest.approx(EXPECTED_COUNTS)
    assert segment["live"]["waiting"] == 1
    waited = time.time() - (now - timedelta(seconds=15)).timestamp()
    assert segment["live"]["longest_wait_seconds"] == pytest.approx(waited, abs=3)

    topic = snapshot["pipeline"]["topics"][stack.settings.topics.calls]
    assert topic["processed"] == len(events)
    assert topic["duplicate"] == 1
    assert topic["rejected"] == {"missing_field": 1, "malformed_json": 1}
    assert snapshot["pipeline"]["workers_alive"] == 1
    # the worker and the exporter froze their start-up heaps out of the collector's scans
    # (processors/gc_tuning.py)
    for name in ("worker", "exporter"):
        proc = next(p for p in stack.procs.procs if p.name.startswith(name))
        assert re.search(r"gc: \d+ start-up objects frozen", proc.log_path.read_text(errors="replace")), name

    # /metrics carries the same figures
    fetched_from = time.time()
    samples = parse_samples(stack.get_text("/metrics"))
    fetched_by = time.time()
    seg_labels = (("channel", CHANNEL), ("queue", QUEUE))
    assert samples[("cx_calls_offered_total", seg_labels)] == 6
    assert samples[("cx_calls_abandoned_total", seg_labels)] == 2
    assert samples[("cx_call_talk_seconds_total", seg_labels)] == 300
    assert samples[("cx_calls_waiting", seg_labels)] == 1
    for kpi, metric, extra in (
        ("abandon_rate", "cx_call_abandon_ratio", {}), ("answer_rate", "cx_call_answer_ratio", {}),
        ("service_level", "cx_call_service_level_ratio", {}), ("asa_seconds", "cx_call_asa_seconds", {}),
        ("aht_seconds", "cx_call_aht_seconds", {}), ("transfer_rate", "cx_call_transfer_ratio", {}),
        ("fcr_agent_flag", "cx_call_fcr_ratio", {"method": "agent_flag"}),
        ("fcr_repeat_contact", "cx_call_fcr_ratio", {"method": "repeat_contact"}),
        ("repeat_contact_rate", "cx_call_repeat_contact_ratio", {}),
    ):
        for window in ("5m", "1h"):
            key = (metric, tuple(sorted({**dict(seg_labels), "window": window, **extra}.items())))
            assert samples[key] == pytest.approx(EXPECTED_KPIS[kpi]), (metric, extra, window)
    # c5 has waited since 15 s before t0; the exporter's clock is the snapshot's, at most
    # two rebuild periods plus two builds (well under 2 s here) before the fetch
    queued_at = (now - timedelta(seconds=15)).timestamp()
    longest = samples[("cx_call_longest_wait_seconds", seg_labels)]
    assert fetched_from - queued_at - 2.0 <= longest <= fetched_by - queued_at, longest
    topic_label = (("topic", stack.settings.topics.calls),)
    assert samples[("cx_pipeline_events_processed_total", topic_label)] == len(events)
    assert samples[("cx_pipeline_events_duplicate_total", topic_label)] == 1
    assert samples[("cx_pipeline_events_late_total", topic_label)] == 0
    # the newest event folded is c5's queueing; the rejected ones (at t0) do not count
    assert samples[("cx_pipeline_last_event_timestamp_seconds", topic_label)] == pytest.approx(queued_at, abs=1e-3)
    for reason in ("missing_field", "malformed_json"):
        invalid_key = ("cx_pipeline_events_invalid_total", (("reason", reason), ("topic", stack.settings.topics.calls)))
        assert samples[invalid_key] == 1, reason

    # the invalid events are in the dead-letter topic with their reason and bytes
    records = _dead_letters(stack, expected=2)
    by_reason = {r["reason"]: r for r in records}
    assert set(by_reason) == {"missing_field", "malformed_json"}
    assert "wait_seconds" in by_reason["missing_field"]["error"]
    assert base64.b64decode(by_reason["malformed_json"]["value_base64"]) == b"{not json"
    assert by_reason["missing_field"]["source"]["topic"] == stack.settings.topics.calls
    assert isinstance(by_reason["missing_field"]["source"]["offset"], int)


def test_duplicates_count_once_across_a_worker_crash_and_late_events_are_dead_lettered(stack: LocalStack) -> None:
    before = stack.get_json("/api/kpis")
    (seg_before,) = [s for s in before["calls"]["segments"] if s["queue"] == QUEUE]
    topic_before = before["pipeline"]["topics"][stack.settings.topics.calls]

    worker = next(p for p in stack.procs.procs if p.name.startswith("worker"))
    worker.kill()  # a crash: no flush, no commit
    stack.procs.procs.remove(worker)
    stack.start_worker(timeout=60)

    # every event of the first test again, byte for byte (a publisher retrying), and a late one
    now = datetime.now(timezone.utc)
    events = _events(t0())
    late = {"event_id": "late-1", "type": "call.queued", "occurred_at": (now - timedelta(hours=3)).isoformat(),
            "queue": QUEUE, "call_id": "c-late"}
    publish(stack, [*events, late])

    def settled(snapshot: dict[str, Any]) -> bool:
        topic = snapshot["pipeline"]["topics"][stack.settings.topics.calls]
        return topic["rejected"].get("late") == 1 and topic["duplicate"] >= topic_before["duplicate"] + len(events)

    wait_for(stack, settled, "the re-sent and late events", timeout=30)

    after = stack.get_json("/api/kpis")
    (seg_after,) = [s for s in after["calls"]["segments"] if s["queue"] == QUEUE]
    assert seg_after["totals"] == seg_before["totals"]  # the restart replayed nothing into the figures
    topic_after = after["pipeline"]["topics"][stack.settings.topics.calls]
    assert topic_after["processed"] == topic_before["processed"]
    assert topic_after["duplicate"] == topic_before["duplicate"] + len(events)
    records = _dead_letters(stack, expected=3)
    assert [r["reason"] for r in records].count("late") == 1
    samples = parse_samples(stack.get_text("/metrics"))
    topic_label = (("topic", stack.settings.topics.calls),)
    assert samples[("cx_pipeline_events_late_total", topic_label)] == 1
    # a late event is not folded, so it does not move the newest event time
    newest = (t0() - timedelta(seconds=15)).timestamp()
    assert samples[("cx_pipeline_last_event_timestamp_seconds", topic_label)] == pytest.approx(newest, abs=1e-3)


def test_metrics_pass_promtool(stack: LocalStack, tmp_path: Any) -> None:
    promtool = require_binary("promtool")
    text = stack.get_text("/metrics")
    assert "cx_calls_offered_total" in text
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        result.stdout + result.stderr
    )


def test_exporter_restart_keeps_counters(stack: LocalStack) -> None:
    before = stack.get_json("/api/kpis")["calls"]["all"]["windows"]["today"]["counts"]
    exporter = next(p for p in stack.procs.procs if p.name == "exporter")
    stack.procs.procs.remove(exporter)
    exporter.stop()
    stack.start_exporter()
    after = stack.get_json("/api/kpis")["calls"]["all"]["windows"]["today"]["counts"]
    assert after["offered"] >= 6
    assert after == before
