"""``cxpulse top``: the wall's figures, live in a terminal, against any running exporter.

For on-call engineers in a shell: the call table of ``cxpulse demo``
(``cxpulse.terminal.call_table``) with each threshold-bearing cell marked with its
state — ``●`` normal, ``▲`` warning, ``■`` critical, a symbol *and* a colour — plus
one line each for surveys, tickets and carts when the exporter serves them. States
come from the exporter's own ``thresholds`` through ``cxpulse.settings.Threshold``,
so the terminal, the wall and the alert rules agree. An unreachable exporter is a
red line on top of the last figures, and the loop keeps retrying.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cxpulse.settings import Threshold
from cxpulse.terminal import _pct, call_table, table_console

WINDOWS = ("5m", "15m", "1h", "today")
DEFAULT_URL = "http://127.0.0.1:9477"
DEFAULT_STALE_SECONDS = 30.0

# state -> (marker, rich style); Okabe-Ito colours like the wall, never colour alone
STATES: dict[str, tuple[str, str]] = {
    "normal": ("●", "#009E73"),
    "warning": ("▲", "bold black on #E69F00"),
    "critical": ("■", "bold white on #B3370B"),
    "lowsample": ("◌", "dim"),
    "nodata": ("", ""),
}

# call_table column -> (threshold name, where the value is: "live" or "kpis", field)
CELL_THRESHOLDS: dict[str, tuple[str, str, str]] = {
    "Waiting": ("calls_waiting", "live", "waiting"),
    "Longest wait": ("longest_wait_seconds", "live", "longest_wait_seconds"),
    "Abandon": ("abandon_rate", "kpis", "abandon_rate"),
    "Service level": ("service_level", "kpis", "service_level"),
    "ASA": ("asa_seconds", "kpis", "asa_seconds"),
    "AHT": ("aht_seconds", "kpis", "aht_seconds"),
    "FCR (agent)": ("fcr", "kpis", "fcr_agent_flag"),
}

SURVEY_WINDOW = "24h"
# carts have no 5m window, tickets are read over a day: the nearest meaningful one
CART_WINDOW = {"5m": "15m", "15m": "15m", "1h": "1h", "today": "today"}
TICKET_WINDOW = {"5m": "24h", "15m": "24h", "1h": "24h", "today": "today"}


# ----------------------------------------------------------------------- helpers


def _thresholds(snapshot: dict[str, Any]) -> dict[str, Threshold]:
    out = {}
    for name, value in (snapshot.get("thresholds") or {}).items():
        if isinstance(value, dict):
            try:
                out[name] = Threshold(**value)
            except (TypeError, ValueError):
                continue
    return out


def _state(thresholds: dict[str, Threshold], name: str, value: float | None) -> str:
    threshold = thresholds.get(name)
    if value is None:
        return "nodata"
    return threshold.state(value) if threshold else "nodata"


def _marked(text: str, state: str) -> Text:
    marker, style = STATES[state]
    return Text(f"{text} {marker}" if marker else text, style=style)


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _count(value: float | None) -> str:
    return "—" if value is None else str(int(round(value)))


def _nps(value: float | None) -> str:
    if value is None:
        return "—"
    r = int(round(value))
    return f"+{r}" if r > 0 else str(r)


def _duration(value: float | None) -> str:
    """Long durations (ticket ages, TTR): 45s, 12m05s, 2h01m, 3d04h."""
    if value is None:
        return "—"
    s = int(value + 0.5)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def newest_event_age(snapshot: dict[str, Any], now: float | None = None) -> float | None:
    """Seconds since the newest event of any topic (the exporter's clock), None if none yet."""
    stamps = [t.get("last_event_ts") for t in (_dig(snapshot, "pipeline", "topics") or {}).values()]
    stamps = [s for s in stamps if isinstance(s, (int, float))]
    if not stamps:
        return None
    ref = snapshot.get("now") if now is None else now
    ref = ref if isinstance(ref, (int, float)) else time.time()
    return max(ref - max(stamps), 0.0)


# ------------------------------------------------------------------------ render


def mark_states(table: Table, snapshot: dict[str, Any], window: str) -> Table:
    """Append each cell's threshold state (symbol + colour) to a ``call_table``.

    The rows of ``call_table`` are the snapshot's segments in order, then ALL.
    """
    thresholds = _thresholds(snapshot)
    calls = snapshot["calls"]
    rows = [(s["live"], s["windows"][window]["kpis"]) for s in calls["segments"]]
    rows.append((calls["all"]["live"], calls["all"]["windows"][window]["kpis"]))
    for column in table.columns:
        spec = CELL_THRESHOLDS.get(str(column.header))
        if spec is None:
            continue
        name, where, field = spec
        cells = column._cells  # rich keeps a column's cells in this list
        for index, (live, kpis) in enumerate(rows[: len(cells)]):
            value = (live if where == "live" else kpis).get(field)
            cells[index] = _marked(str(cells[index]), _state(thresholds, name, value))
    return table


def _header(snapshot: dict[str, Any], window: str, stale_after: float, url: str | None) -> Text:
    line = Text()
    line.append("cxpulse top", style="bold")
    if url:
        line.append(f" · {url}")
    line.append(f" · window {window} · {str(snapshot.get('generated_at', ''))[11:19]} UTC · ")
    age = newest_event_age(snapshot)
    if age is None:
        line.append(" ■ DATA STALE: no event received yet ", style="bold black on #F0E442")
    elif age > stale_after:
        line.append(f" ■ DATA STALE: newest event {_duration(age)} ago (limit {_duration(stale_after)}) ",
                    style="bold black on #F0E442")
    else:
        line.append(f"● LIVE (newest event {_duration(age)} ago)", style="#009E73")
    return line


def _survey_line(snapshot: dict[str, Any], thresholds: dict[str, Threshold]) -> Text:
    line = Text("Surveys", style="bold")
    surveys = snapshot.get("surveys")
    entry = _dig(surveys, "all", "windows", SURVEY_WINDOW)
    if not entry:
        return line.append(" —", style="dim")
    line.append(f" ({SURVEY_WINDOW}, all queues): ")
    kpis, counts = entry.get("kpis") or {}, entry.get("counts") or {}
    meaningful = kpis.get("meaningful") or {}
    parts = (
        ("NPS", "nps", "nps", _nps, "nps_responses", "nps"),
        ("CSAT", "csat", "csat", _pct, "csat_responses", "csat"),
        ("CES easy", "ces_easy_rate", "ces_easy_rate", _pct, "ces_responses", "ces"),
    )
    for i, (label, field, threshold, fmt, count, kind) in enumerate(parts):
        if i:
            line.append(" · ")
        value = kpis.get(field)
        state = _state(thresholds, threshold, value)
        n = counts.get(count, 0.0)
        ok = meaningful.get(kind)
        if ok is None:
            ok = n >= (surveys or {}).get("min_sample", 0)
        if value is not None and not ok:
            state = "lowsample"
        line.append(f"{label} ")
        line.append_text(_marked(fmt(value).strip(), state))
        line.append(f" n={_count(n)}" + (" low sample" if state == "lowsample" else ""), style="dim")
    return line


def _ticket_line(snapshot: dict[str, Any], window: str, thresholds: dict[str, Threshold]) -> Text:
    line = Text("Tickets", style="bold")
    tickets = snapshot.get("tickets")
    if not tickets:
        return line.append(" —", style="dim")
    live = _dig(tickets, "all", "live") or {}
    tw = TICKET_WINDOW[window]
    kpis = _dig(tickets, "all", "windows", tw, "kpis") or {}
    backlog = live.get("open")
    line.append(": backlog ")
    line.append_text(_marked(_count(backlog), _state(thresholds, "ticket_backlog", backlog)))
    if backlog:
        line.append(f" · oldest open {_duration(live.get('oldest_open_age_seconds'))}")
    line.append(f" · TTR ({tw}) ")
    ttr = kpis.get("ttr_mean_seconds")
    line.append_text(_marked(_duration(ttr), _state(thresholds, "ticket_ttr_seconds", ttr)))
    line.append(f" · reopen {_pct(kpis.get('reopen_rate')).strip()}")
    line.append(f" · escalation {_pct(kpis.get('escalation_rate')).strip()}")
    line.append(f" · FCR {_pct(kpis.get('fcr')).strip()}")
    return line


def _cart_line(snapshot: dict[str, Any], window: str, thresholds: dict[str, Threshold]) -> Text:
    line = Text("Carts", style="bold")
    carts = snapshot.get("carts")
    if not carts:
        return line.append(" —", style="dim")
    cw = CART_WINDOW[window]
    kpis = _dig(carts, "all", "windows", cw, "kpis") or {}
    rate = kpis.get("abandonment_rate")
    line.append(f" ({cw}): abandonment ")
    line.append_text(_marked(_pct(rate).strip(), _state(thresholds, "cart_abandonment_rate", rate)))
    line.append(f" · completion {_pct(kpis.get('completion_rate')).strip()}")
    line.append(f" · open {_count(_dig(carts, 'all', 'live', 'open'))}")
    aov = {cur: v for cur, v in (kpis.get("aov") or {}).items() if isinstance(v, (int, float))}
    if aov:
        line.append(" · AOV " + ", ".join(f"{cur} {v:.2f}" for cur, v in sorted(aov.items())))
    return line


def _legend() -> Text:
    line = Text("states: ", style="dim")
    for state, label in (("normal", "ok"), ("warning", "warning"), ("critical", "critical"), ("lowsample", "low sample")):
        marker, style = STATES[state]
        line.append(f"{marker} {label}", style=style)
        line.append("  ")
    line.append("— no data", style="dim")
    return line


def render(
    snapshot: dict[str, Any],
    window: str = "15m",
    *,
    stale_after: float = DEFAULT_STALE_SECONDS,
    url: str | None = None,
) -> RenderableType:
    """The whole view for one ``/api/kpis`` snapshot: pure, so tests can print it."""
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; known: {', '.join(WINDOWS)}")
    thresholds = _thresholds(snapshot)
    return Group(
        _header(snapshot, window, stale_after, url),
        mark_states(call_table(snapshot, window), snapshot, window),
        _survey_line(snapshot, thresholds),
        _ticket_line(snapshot, window, thresholds),
        _cart_line(snapshot, window, thresholds),
        _legend(),
    )


# -------------------------------------------------------------------------- loop


def fetch(url: str, timeout: float) -> dict[str, Any]:
    """``GET {url}/api/kpis``; raises ``OSError`` (URLError included) or ``ValueError``."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/kpis", timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            detail = json.loads(exc.read()).get("error", "")
        except (ValueError, OSError, AttributeError):
            pass
        raise OSError(f"HTTP {exc.code}{': ' + detail if detail else ''}") from exc


def run_top(
    url: str = DEFAULT_URL,
    window: str = "15m",
    interval: float = 1.0,
    duration: float | None = None,
    *,
    stale_after: float = DEFAULT_STALE_SECONDS,
    console: Console | None = None,
) -> int:
    """Refresh every ``interval`` s until Ctrl-C (or ``duration`` s).

    Returns 0, or 1 when the last attempt could not read the exporter.
    """
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; known: {', '.join(WINDOWS)}")
    interval = max(interval, 0.1)
    if console is None:
        console = table_console()
    deadline = None if duration is None else time.monotonic() + duration
    last: dict[str, Any] | None = None
    last_ok: float | None = None
    error: str | None = None
    try:
        with Live(Text(f"connecting to {url}…"), console=console, auto_refresh=False, transient=False) as live:
            while True:
                try:
                    last = fetch(url, timeout=max(2.0, interval * 2))
                    last_ok, error = time.time(), None
                except (OSError, ValueError) as exc:
                    error = str(getattr(exc, "reason", None) or exc)
                live.update(_screen(last, error, url, window, interval, stale_after, last_ok), refresh=True)
                if deadline is not None and time.monotonic() >= deadline:
                    break
                time.sleep(interval if deadline is None else max(min(interval, deadline - time.monotonic()), 0))
    except KeyboardInterrupt:
        pass
    return 0 if error is None else 1


def _screen(
    snapshot: dict[str, Any] | None, error: str | None, url: str, window: str, interval: float,
    stale_after: float, last_ok: float | None,
) -> RenderableType:
    parts: list[RenderableType] = []
    if error is not None:
        since = time.strftime("%H:%M:%S", time.gmtime(last_ok)) + " UTC" if last_ok else "never"
        parts.append(Text(
            f" ■ EXPORTER UNREACHABLE at {url}: {error} — retrying every {interval:g}s (last data: {since}) ",
            style="bold white on #B3370B",
        ))
    if snapshot is not None:
        try:
            parts.append(render(snapshot, window, stale_after=stale_after, url=url))
        except (KeyError, TypeError, ValueError) as exc:
            parts.append(Text(f"unexpected /api/kpis shape: {exc!r}", style="bold red"))
    return Group(*parts)
