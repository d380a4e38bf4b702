"""The live terminal table of call KPIs (``cxpulse demo``, and on-call shells)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


# The marked table (``cxpulse.top.mark_states``) with every cell at its widest
# ("100.0% ●", "59m59s ■") is ~170 columns; narrower, rich wraps the headers.
TABLE_WIDTH = 180


def table_console(console: Console | None = None) -> Console:
    """A console wide enough for ``call_table``: a pipe or a narrow terminal gets TABLE_WIDTH."""
    console = console or Console()
    if not console.is_terminal or console.width < TABLE_WIDTH:
        return Console(width=TABLE_WIDTH)
    return console


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:5.1f}%"


def _secs(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 60:
        return f"{int(value // 60)}m{int(value % 60):02d}s"
    return f"{value:4.1f}s"


def _count(value: float) -> str:
    return f"{int(round(value))}"


def call_table(snapshot: dict[str, Any], window: str = "15m") -> Table:
    span = snapshot["windows"][window]
    table = Table(
        title=f"cxpulse — calls per queue, window {window} (since {span['start'][11:19]} UTC)",
        caption=_pipeline_caption(snapshot),
        header_style="bold",
    )
    for name, justify in (
        ("Queue", "left"), ("Channel", "left"), ("Waiting", "right"), ("Longest wait", "right"),
        ("Offered", "right"), ("Answered", "right"), ("Abandoned", "right"), ("Abandon", "right"),
        ("Service level", "right"), ("ASA", "right"), ("AHT", "right"), ("Transfer", "right"),
        ("FCR (agent)", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]

    rows = [(s["queue"], s["channel"], s["live"], s["windows"][window]) for s in snapshot["calls"]["segments"]]
    overall = snapshot["calls"]["all"]
    rows.append(("ALL", "", overall["live"], overall["windows"][window]))
    for queue, channel, live, entry in rows:
        counts, kpis = entry["counts"], entry["kpis"]
        table.add_row(
            Text(queue, style="bold" if queue == "ALL" else ""),
            channel,
            str(live["waiting"]),
            _secs(live["longest_wait_seconds"]),
            _count(counts["offered"]),
            _count(counts["answered"]),
            _count(counts["abandoned"]),
            _pct(kpis["abandon_rate"]),
            _pct(kpis["service_level"]),
            _secs(kpis["asa_seconds"]),
            _secs(kpis["aht_seconds"]),
            _pct(kpis["transfer_rate"]),
            _pct(kpis["fcr_agent_flag"]),
            end_section=queue != "ALL" and (queue, channel) == rows[-2][:2],
        )
    return table


def _pipeline_caption(snapshot: dict[str, Any]) -> str:
    topics = snapshot["pipeline"]["topics"]
    processed = sum(t["processed"] for t in topics.values())
    rejected = sum(sum(t["rejected"].values()) for t in topics.values())
    duplicate = sum(t["duplicate"] for t in topics.values())
    alive = snapshot["pipeline"].get("workers_alive", 0)
    return (
        f"events processed {int(processed)} · dead-lettered {int(rejected)} · duplicates {int(duplicate)}"
        f" · workers alive {alive} · {snapshot['generated_at'][11:19]} UTC"
    )
