"""``cxpulse top``: the wall's figures, live in a terminal, against any running exporter.

For on-call engineers in a shell: the call table of ``cxpulse demo``
(``cxpulse.terminal.call_table``) with each threshold-bearing cell marked with its
state — ``●`` normal, ``▲`` warning, ``■`` critical, a symbol *and* a colour — plus
one line each for surveys, tickets and carts when the exporter serves them. States
come from the exporter's own ``thresholds`` through ``cxpulse.settings.Threshold``,
so the terminal, the wall and the alert rules agree. An unreachable exporter is a
red line on top of the last figures, and the loop keeps retrying.

A secured exporter (``exporter_basic_auth_*``, ``exporter_tls_*``) is read with an
``Access``: the user and CA file may be options, but the password comes only from
the environment or a file (``CXPULSE_TOP_PASSWORD`` / ``--password-file``), like
every secret of the project, so it never shows in ``ps``, in logs or on screen.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Mapping

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


# ------------------------------------------------------------------------ access

ENV_USER = "CXPULSE_TOP_USER"
ENV_PASSWORD = "CXPULSE_TOP_PASSWORD"
ENV_PASSWORD_FILE = "CXPULSE_TOP_PASSWORD_FILE"
ENV_CA_FILE = "CXPULSE_TOP_CA_FILE"


@dataclass(frozen=True)
class Access:
    """Credentials and TLS trust for a secured exporter; the password never prints (``repr``)."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    insecure: bool = False  # TLS without verifying the certificate: for a lab, and said on screen

    def headers(self) -> dict[str, str]:
        if self.user is None or self.password is None:
            return {}
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def ssl_context(self) -> ssl.SSLContext | None:
        """None for the default trust store; a context for a private CA or ``insecure``."""
        return _tls_context(self.ca_file, self.insecure)


@functools.lru_cache(maxsize=8)
def _tls_context(ca_file: str | None, insecure: bool) -> ssl.SSLContext | None:
    """Built once per (CA file, insecure): ``top`` fetches every second."""
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return None


def access_from(
    user: str | None = None,
    password_file: str | None = None,
    ca_file: str | None = None,
    insecure: bool = False,
    env: Mapping[str, str] | None = None,
) -> Access:
    """Options first, then ``CXPULSE_TOP_*``; the password only from the environment or a file.

    Raises ``ValueError`` for a password without a user (or the reverse), or for a
    password given both ways, as ``cxpulse.settings`` does for ``*_FILE`` secrets.
    """
    env = os.environ if env is None else env
    user = user or env.get(ENV_USER) or None
    password_file = password_file or env.get(ENV_PASSWORD_FILE) or None
    password = env.get(ENV_PASSWORD) or None
    if password_file:
        if password:
            raise ValueError(f"set {ENV_PASSWORD} or a password file, not both")
        with open(password_file, encoding="utf-8") as handle:
            password = handle.read().strip()
    if (user is None) != (password is None):
        raise ValueError(f"basic auth needs a user (--user or {ENV_USER}) and a password "
                         f"({ENV_PASSWORD}, {ENV_PASSWORD_FILE} or --password-file)")
    return Access(user, password, ca_file or env.get(ENV_CA_FILE) or None, insecure)


def check_url(url: str) -> str:
    """Refuse ``http://user:pass@host``: a password on the command line shows in ``ps``."""
    if urllib.parse.urlsplit(url).username is not None:
        raise ValueError(f"put no credentials in the URL: use --user and {ENV_PASSWORD} or --password-file")
    return url


def add_access_arguments(parser: argparse.ArgumentParser) -> None:
    """``cxpulse top``'s options for a secured exporter (no option takes a password)."""
    parser.add_argument("--user", help=f"Basic-auth user (also {ENV_USER}); the password comes from "
                        f"{ENV_PASSWORD} or --password-file, never from the command line")
    parser.add_argument("--password-file", help=f"File holding the basic-auth password (also {ENV_PASSWORD_FILE})")
    parser.add_argument("--ca-file", help=f"CA certificate (PEM) to verify an https:// exporter (also {ENV_CA_FILE})")
    parser.add_argument("--insecure", action="store_true",
                        help="Do not verify the exporter's TLS certificate (a lab; the screen says so)")


def access_from_args(args: argparse.Namespace) -> Access:
    return access_from(args.user, args.password_file, args.ca_file, args.insecure)


# -------------------------------------------------------------------------- loop


def fetch(url: str, timeout: float, access: Access | None = None) -> dict[str, Any]:
    """``GET {url}/api/kpis``; raises ``OSError`` (URLError included) or ``ValueError``."""
    access = access or Access()
    request = urllib.request.Request(url.rstrip("/") + "/api/kpis", headers=access.headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=access.ssl_context()) as response:
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
    access: Access | None = None,
) -> int:
    """Refresh every ``interval`` s until Ctrl-C (or ``duration`` s).

    ``access``: credentials and TLS trust; by default ``access_from()`` (the
    ``CXPULSE_TOP_*`` environment). Returns 0, or 1 when the last attempt could not
    read the exporter.
    """
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; known: {', '.join(WINDOWS)}")
    check_url(url)
    access = access_from() if access is None else access
    shown = url + (" (TLS NOT VERIFIED)" if access.insecure else "")
    interval = max(interval, 0.1)
    if console is None:
        console = table_console()
    deadline = None if duration is None else time.monotonic() + duration
    last: dict[str, Any] | None = None
    last_ok: float | None = None
    error: str | None = None
    try:
        with Live(Text(f"connecting to {shown}…"), console=console, auto_refresh=False, transient=False) as live:
            while True:
                try:
                    last = fetch(url, timeout=max(2.0, interval * 2), access=access)
                    last_ok, error = time.time(), None
                except (OSError, ValueError) as exc:
                    error = str(getattr(exc, "reason", None) or exc)
                live.update(_screen(last, error, shown, window, interval, stale_after, last_ok), refresh=True)
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
