from __future__ import annotations

from rich.console import Console

from cxpulse.terminal import call_table
from tests.unit.test_collector import snapshot


def render(snap: dict) -> str:  # type: ignore[type-arg]
    console = Console(width=200, record=True, color_system=None)
    console.print(call_table(snap, "5m"))
    return console.export_text()


def test_table_shows_each_queue_and_the_overall_row() -> None:
    snap = snapshot({"offered": 10.0, "answered": 8.0, "answered_within_sl": 6.0, "abandoned": 2.0,
                     "answer_wait_seconds": 80.0})
    snap["windows"] = {"5m": {"start": "2026-11-22T10:00:00+00:00", "end": "2026-11-22T10:05:00+00:00"}}
    snap["generated_at"] = "2026-11-22T10:04:59+00:00"
    entry = snap["calls"]["segments"][0]["windows"]["5m"]
    snap["calls"]["all"] = {"live": {"waiting": 3, "longest_wait_seconds": 42.0}, "windows": {"5m": entry}}
    text = render(snap)
    assert "sales" in text and "ALL" in text
    assert " 20.0%" in text  # abandon rate 2/10
    assert " 60.0%" in text  # service level 6 / (8 + 2)
    assert "10.0s" in text  # ASA 80/8
    assert "42.0s" in text  # longest wait
    assert "—" in text  # AHT has no handled calls: shown as no data, not 0
