"""The wallboard in a real headless Chromium, against a live pipeline fed known call events.

Broker, worker and Redis come from ``LocalStack``; the page is served by an exporter
process built from ``exporters.api.create_web_app`` plus ``register_wall`` (so the test
does not depend on whether ``api.py`` mounts the wall itself). Chromium is driven
over the DevTools protocol with aiohttp's websocket client: no Selenium, no driver,
no browser download. The test checks what a person sees: each tile's text equals the
``/api/kpis`` figure formatted, a threshold crossing turns a tile critical (attribute
and text marker), the wall says DATA STALE when events stop or the API goes away and
recovers by itself. A screenshot is left in ``tests/artifacts/wall.png``.

Calls are spread over the windows (a few minutes ago, 400 s, 30 min and 2 h ago) so
that switching the window selector must change figures, and the 2 h old call lands
in "today" but not in "1h" because the stack runs in a zone where it is afternoon
(``afternoon_zone``). Tickets and carts are published too, so the header's backlog
and cart abandonment are compared with ``/api/kpis`` like the tiles.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import math
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import aiohttp
import pytest

from cxpulse.procs import ManagedProcess, ProcessSet, free_port, http_ok, wait_until
from cxpulse.settings import Threshold, load_settings
from cxpulse.stack import LocalStack
from cxpulse.top import render as render_top
from processors.kpis.carts import abandonment_rate
from tests.conftest import require_binary

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
STALE_AFTER = 5  # seconds, passed to the page as ?stale_after=
SURVEY_MIN_SAMPLE = 3  # the wall exporter's survey_min_sample: 3 answers make a figure meaningful
WINDOW = "15m"
CART_WINDOW = {"5m": "15m", "15m": "15m", "1h": "1h", "today": "today"}  # the wall's mapping (wall.js)
OLDEST_CALL_AGO = 7200  # seconds: the oldest call published, in "today" but not in "1h"

# ------------------------------------------------------------------------- browser


class Browser:
    """Headless Chromium over the DevTools protocol, with a synchronous face for the test."""

    def __init__(self, procs: ProcessSet, workdir: Path, width: int = 1920, height: int = 1080) -> None:
        binary = require_binary("chromium")
        profile = workdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        args = [
            binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
            "--force-device-scale-factor=1", f"--window-size={width},{height}",
            f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            "about:blank",
        ]
        # its own process group: stop() takes the zygote, renderers and GPU helpers with it
        self.proc = procs.add(ManagedProcess("chromium", args, workdir / "chromium.log"))
        port_file = profile / "DevToolsActivePort"
        wait_until(lambda: len(_read_lines(port_file)) >= 2, 30, "Chromium DevTools port", self.proc, interval=0.1)
        self.port = int(_read_lines(port_file)[0])
        self.loop = asyncio.new_event_loop()
        self._ids = itertools.count(1)
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._run(self._connect())
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _connect(self) -> None:
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{self.port}/json/list") as response:
            targets = await response.json(content_type=None)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)

    async def _send(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.ws is not None
        call_id = next(self._ids)
        await self.ws.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = await self.ws.receive(timeout=max(deadline - time.monotonic(), 0.01))
            if message.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"DevTools connection closed during {method}: {message}")
            data = json.loads(message.data)
            if data.get("id") == call_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data.get("result", {})

    def send(self, method: str, timeout: float = 20.0, **params: Any) -> dict[str, Any]:
        return self._run(self._send(method, params, timeout))

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && !!window.cxpulseWall", 15, f"page {url} loaded")

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.1)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        async def shut() -> None:
            if self.ws is not None:
                await self.ws.close()
            if self.session is not None:
                await self.session.close()

        try:
            self._run(shut())
        finally:
            self.loop.close()
            self.proc.stop(timeout=5)
            # Chromium's helpers share its process group: wait until the group is empty
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _group_alive(self.proc.pid):
                time.sleep(0.05)


def _text(renderable: Any) -> str:
    from rich.console import Console

    console = Console(width=220, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _group_alive(pgid: int) -> bool:
    """True while a live (non-zombie) process is left in the group."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _read_lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return []


# ------------------------------------------------------------------ wall exporter

WALL_SERVER = """
from aiohttp import web
from cxpulse.settings import load_settings
from exporters.api import create_web_app
from exporters.wall.routes import register_wall

settings = load_settings()
app = create_web_app(settings)
register_wall(app)  # a no-op once exporters.api mounts the wall itself
web.run_app(app, host="127.0.0.1", port=settings.exporter_port, print=None, access_log=None, shutdown_timeout=2)
"""


def start_wall_server(stack: LocalStack, port: int) -> ManagedProcess:
    proc = stack.procs.add(
        ManagedProcess(
            "wall-exporter", [sys.executable, "-c", WALL_SERVER], stack.workdir / "wall-exporter.log",
            stack.child_env(CXPULSE_EXPORTER_PORT=str(port), CXPULSE_EXPORTER_HOST="127.0.0.1",
                            CXPULSE_SURVEY_MIN_SAMPLE=str(SURVEY_MIN_SAMPLE)),
        )
    )
    wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/wall"), 20, "wall exporter", proc, interval=0.1)
    return proc


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


# ------------------------------------------------------------------------- events


def call(queue: str, channel: str, cid: str, ago: float, *, wait: float | None = None, abandon: bool = False,
         talk: float = 0, resolved: bool | None = None, now: datetime) -> list[dict[str, Any]]:
    """One call's events: queued ``ago`` seconds before ``now``, then answered+completed or abandoned."""

    def at(seconds_ago: float) -> str:
        return (now - timedelta(seconds=max(seconds_ago, 0))).isoformat()

    base = {"queue": queue, "channel": channel, "call_id": cid}
    events = [{"event_id": f"{cid}-q", "type": "call.queued", "occurred_at": at(ago), **base}]
    if wait is None:
        return events  # still waiting
    if abandon:
        return events + [{"event_id": f"{cid}-x", "type": "call.abandoned", "occurred_at": at(ago - wait),
                          "wait_seconds": wait, **base}]
    done = {"event_id": f"{cid}-d", "type": "call.completed", "occurred_at": at(ago - wait - talk),
            "talk_seconds": talk, "acw_seconds": 30, "agent_id": "a1", **base}
    if resolved is not None:
        done["resolved"] = resolved
    return events + [
        {"event_id": f"{cid}-a", "type": "call.answered", "occurred_at": at(ago - wait), "wait_seconds": wait,
         "agent_id": "a1", **base},
        done,
    ]


def survey(queue: str, sid: str, kind: str, score: int, ago: float, *, now: datetime) -> dict[str, Any]:
    scale = (0, 10) if kind == "nps" else (1, 5)
    return {"event_id": f"{sid}-r", "type": "survey.response", "survey_id": sid, "survey_type": kind,
            "queue": queue, "channel": "voice", "score": score, "scale_min": scale[0], "scale_max": scale[1],
            "occurred_at": (now - timedelta(seconds=ago)).isoformat()}


def ticket(kind: str, tid: str, queue: str, channel: str, ago: float, *, now: datetime,
           created_ago: float | None = None) -> dict[str, Any]:
    event = {"event_id": f"{tid}-{kind}", "type": f"ticket.{kind}", "ticket_id": tid, "queue": queue,
             "channel": channel, "occurred_at": (now - timedelta(seconds=ago)).isoformat()}
    if created_ago is not None:
        event["created_at"] = (now - timedelta(seconds=created_ago)).isoformat()
    return event


def cart(kind: str, cid: str, channel: str, ago: float, *, now: datetime, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"{cid}-{kind}", "type": kind, "cart_id": cid, "channel": channel,
            "occurred_at": (now - timedelta(seconds=ago)).isoformat(), **extra}


def tickets_and_carts(now: datetime) -> list[dict[str, Any]]:
    """Open tickets: t1, t2 (billing/email), t4 (billing/chat); t3 (sales) is resolved -> backlog 3.
    Carts: web 1 of 2 abandoned, chat 2 of 2 -> all channels 3/4 = 75 % (warning, on the
    boundary), chat alone 100 % (critical)."""
    return [
        ticket("created", "t1", "billing", "email", 300, now=now),
        ticket("created", "t2", "billing", "email", 200, now=now),
        ticket("created", "t3", "sales", "email", 250, now=now),
        ticket("resolved", "t3", "sales", "email", 100, now=now, created_ago=250),
        ticket("created", "t4", "billing", "chat", 150, now=now),
        cart("cart.created", "k1", "web", 300, now=now),
        cart("cart.abandoned", "k1", "web", 100, now=now),
        cart("cart.created", "k2", "web", 280, now=now),
        cart("checkout.completed", "k2", "web", 90, now=now, amount=40.0, currency="EUR"),
        cart("cart.created", "k3", "chat", 200, now=now),
        cart("cart.abandoned", "k3", "chat", 60, now=now),
        cart("cart.created", "k4", "chat", 180, now=now),
        cart("cart.abandoned", "k4", "chat", 50, now=now),
    ]


def phase_one(now: datetime) -> list[dict[str, Any]]:
    """billing: 4 answered (3 within T=20 s), no abandon -> abandon 0 %, SL 75 % (warning);
    NPS 10, 9, 3 -> +33 on 3 answers (meaningful); CSAT 5, 4, 2 -> 66.7 % (warning).
    sales: 2 answered fast and resolved, 1 still waiting; one NPS answer -> low sample.
    support/chat: 1 answered, 1 short abandon. One answered call each on billing/chat, sales/chat
    and support/voice (45 s wait, 700 s talk), so the wall has six rows.
    support/voice also has older calls, so its ASA differs per window: 45 s (5m),
    (45+5)/2 = 25 s (15m), (45+5+10)/3 = 20 s (1h), (45+5+10+60)/4 = 30 s (today)."""
    return [
        *call("support", "voice", "uv4", OLDEST_CALL_AGO, wait=60, talk=300, resolved=True, now=now),
        *call("support", "voice", "uv3", 1800, wait=10, talk=200, resolved=True, now=now),
        *call("support", "voice", "uv2", 400, wait=5, talk=100, resolved=True, now=now),
        *tickets_and_carts(now),
        survey("billing", "n1", "nps", 10, 100, now=now),
        survey("billing", "n2", "nps", 9, 90, now=now),
        survey("billing", "n3", "nps", 3, 80, now=now),
        survey("billing", "c1", "csat", 5, 100, now=now),
        survey("billing", "c2", "csat", 4, 90, now=now),
        survey("billing", "c3", "csat", 2, 80, now=now),
        survey("sales", "n4", "nps", 2, 60, now=now),
        *call("billing", "voice", "b1", 240, wait=5, talk=100, resolved=True, now=now),
        *call("billing", "voice", "b2", 200, wait=10, talk=150, resolved=True, now=now),
        *call("billing", "voice", "b3", 180, wait=15, talk=120, resolved=False, now=now),
        *call("billing", "voice", "b4", 150, wait=25, talk=90, resolved=True, now=now),
        *call("sales", "voice", "s1", 170, wait=4, talk=60, resolved=True, now=now),
        *call("sales", "voice", "s2", 140, wait=6, talk=80, resolved=True, now=now),
        *call("sales", "voice", "s3", 8, now=now),  # waiting
        *call("support", "chat", "u1", 160, wait=12, talk=200, resolved=True, now=now),
        *call("support", "chat", "u2", 120, wait=2, abandon=True, now=now),  # short abandon (< 5 s)
        *call("billing", "chat", "bc1", 130, wait=8, talk=300, resolved=True, now=now),
        *call("sales", "chat", "sc1", 110, wait=3, talk=240, resolved=False, now=now),
        *call("support", "voice", "uv1", 100, wait=45, talk=700, resolved=True, now=now),
        # the newest event: "now", so the wall starts live
        *call("support", "chat", "u3", 0, now=now),
    ]


def phase_two(now: datetime) -> list[dict[str, Any]]:
    """billing: 3 abandons after 30-50 s -> abandon 3/7 = 43 % >= 10 % critical."""
    return [
        *call("billing", "voice", "b5", 90, wait=30, abandon=True, now=now),
        *call("billing", "voice", "b6", 80, wait=40, abandon=True, now=now),
        *call("billing", "voice", "b7", 50, wait=50, abandon=True, now=now),
    ]


async def _publish(stack: LocalStack, events: list[dict[str, Any]]) -> None:
    from streams.publisher import Publisher

    async with Publisher(stack.settings) as publisher:
        for obj in events:
            await publisher.publish_object(obj)
        await publisher.flush()


def publish_and_wait(stack: LocalStack, api: str, events: list[dict[str, Any]], timeout: float = 20) -> dict[str, Any]:
    def processed(snap: dict[str, Any]) -> float:
        return sum(t["processed"] for t in snap["pipeline"]["topics"].values())

    before = processed(get_json(api + "/api/kpis"))
    asyncio.run(_publish(stack, events))
    deadline = time.monotonic() + timeout
    while True:
        snap = get_json(api + "/api/kpis")
        if processed(snap) >= before + len(events):
            time.sleep(1.5)  # past the oldest snapshot the exporter may serve (2 periods + 2 builds)
            return get_json(api + "/api/kpis")
        assert time.monotonic() < deadline, f"pipeline did not catch up: {snap['pipeline']['topics']}"
        time.sleep(0.1)


# --------------------------------------------------- what the wall must show (mirror)


def js_round(v: float) -> int:
    return math.floor(v + 0.5)


def fmt_count(v: float | None) -> str:
    return "—" if v is None else str(js_round(v))


def fmt_pct(v: float | None) -> str:
    # Number.toFixed(1): exact value of the double, ties away from zero
    return "—" if v is None else f"{Decimal(v * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def fmt_secs(v: float | None) -> str:
    if v is None:
        return "—"
    s = js_round(v)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def fmt_nps(v: float | None) -> str:
    if v is None:
        return "—"
    r = js_round(v)
    return f"+{r}" if r > 0 else str(r)


MARKERS = {"normal": "● OK", "warning": "▲ WARN", "critical": "■ CRIT", "lowsample": "◌ LOW SAMPLE",
           "nodata": "— NO DATA"}

# tile -> (threshold name, formatter, how to read the value from a segment and its window entry)
CALL_TILES: dict[str, tuple[str, Callable[[Any], str], Callable[[dict[str, Any], dict[str, Any]], Any]]] = {
    "waiting": ("calls_waiting", fmt_count, lambda seg, e: seg["live"]["waiting"]),
    "longest_wait": ("longest_wait_seconds", fmt_secs, lambda seg, e: seg["live"]["longest_wait_seconds"]),
    "abandon_rate": ("abandon_rate", fmt_pct, lambda seg, e: e["kpis"]["abandon_rate"]),
    "service_level": ("service_level", fmt_pct, lambda seg, e: e["kpis"]["service_level"]),
    "asa": ("asa_seconds", fmt_secs, lambda seg, e: e["kpis"]["asa_seconds"]),
    "aht": ("aht_seconds", fmt_secs, lambda seg, e: e["kpis"]["aht_seconds"]),
    "fcr": ("fcr", fmt_pct, lambda seg, e: e["kpis"]["fcr_agent_flag"]),
}


def _wanted(values: list[str] | None, value: str) -> bool:
    return values is None or value in values


def expected_tiles(snap: dict[str, Any], window: str, survey_window: str = "24h", *,
                   queues: list[str] | None = None, channels: list[str] | None = None,
                   ) -> dict[str, dict[str, tuple[str, str]]]:
    """row key -> tile -> (text, state), computed in Python from /api/kpis.

    ``longest_wait`` is a live gauge (``now`` minus the oldest queued call), so its
    entry is the API's value, to be moved by the time between two snapshots (``dom_matches``).
    """
    th = {name: Threshold(**value) for name, value in snap["thresholds"].items() if isinstance(value, dict)}
    out: dict[str, dict[str, tuple[str, str]]] = {}
    surveys = snap.get("surveys")
    for seg in snap["calls"]["segments"]:
        if not (_wanted(queues, seg["queue"]) and _wanted(channels, seg["channel"])):
            continue
        entry = seg["windows"][window]
        tiles: dict[str, tuple[str, str]] = {}
        for tile, (name, fmt, read) in CALL_TILES.items():
            value = read(seg, entry)
            tiles[tile] = (fmt(value), th[name].state(value))
        for tile, fmt, count in (("nps", fmt_nps, "nps_responses"), ("csat", fmt_pct, "csat_responses")):
            survey = (((surveys or {}).get("by_queue") or {}).get(seg["queue"]) or {}).get("windows", {}).get(survey_window)
            value = ((survey or {}).get("kpis") or {}).get(tile)
            state = th[tile].state(value)
            if value is not None:
                meaningful = ((survey or {}).get("kpis") or {}).get("meaningful", {}).get(tile)
                if meaningful is None:
                    meaningful = (survey or {}).get("counts", {}).get(count, 0) >= surveys.get("min_sample", 0)
                state = state if meaningful else "lowsample"
            tiles[tile] = (fmt(value), state)
        out[f"{seg['queue']}|{seg['channel']}"] = tiles
    return out


def expected_header(snap: dict[str, Any], window: str, *, queues: list[str] | None = None,
                    channels: list[str] | None = None) -> dict[str, tuple[str, str]]:
    """Ticket backlog and cart abandonment as the header must show them: (text, state)."""
    th = {name: Threshold(**value) for name, value in snap["thresholds"].items() if isinstance(value, dict)}
    tickets, carts, cw = snap["tickets"], snap["carts"], CART_WINDOW[window]
    if queues is None and channels is None:
        backlog = tickets["all"]["live"]["open"]
    else:  # open tickets are a count: the matching segments add up
        backlog = sum(s["live"]["open"] for s in tickets["segments"]
                      if _wanted(queues, s["queue"]) and _wanted(channels, s["channel"]))
    if channels is None:
        rate = carts["all"]["windows"][cw]["kpis"]["abandonment_rate"]
    else:  # a ratio: the exporter's own KPI function on the summed counters
        mine = [s["windows"][cw]["counts"] for s in carts["segments"] if s["channel"] in channels]
        rate = abandonment_rate(created=sum(c["created"] for c in mine), abandoned=sum(c["abandoned"] for c in mine))
    return {"backlog": (fmt_count(backlog), th["ticket_backlog"].state(backlog)),
            "carts": (fmt_pct(rate), th["cart_abandonment_rate"].state(rate))}


DOM_TILES = """
(() => {
  const rows = {};
  for (const row of document.querySelectorAll('section.row')) {
    const tiles = {};
    for (const t of row.querySelectorAll('.tile')) {
      const spark = t.querySelector('.t-spark'), line = spark.querySelector('path.spark-line');
      tiles[t.dataset.tile] = {text: t.querySelector('.t-value').textContent, state: t.dataset.state,
                               marker: t.querySelector('.t-state').textContent, value: t.dataset.value,
                               note: t.querySelector('.t-note').textContent,
                               spark: !!line, series: spark.dataset.series || null,
                               points: spark.dataset.points === undefined ? null : Number(spark.dataset.points),
                               vertices: line ? (line.getAttribute('d').match(/[ML]/g) || []).length : 0,
                               caption: (spark.querySelector('.spark-caption') || {}).textContent || ''};
    }
    rows[row.dataset.row] = tiles;
  }
  const snap = window.cxpulseWall.state.snap;
  const sum = id => ({text: document.querySelector(`#${id} .sum-value`).textContent,
                      state: document.getElementById(id).dataset.state,
                      marker: document.querySelector(`#${id} .sum-state`).textContent});
  return {rows, state: document.body.dataset.state, window: window.cxpulseWall.config().window,
          now: snap ? snap.now : null,
          banner: document.getElementById('stale-banner').hidden ? '' : document.getElementById('stale-banner').textContent,
          status: document.querySelector('#status .status-text').textContent,
          backlog: sum('sum-backlog'), carts: sum('sum-carts')};
})()
"""


def dom_matches(dom: dict[str, Any], snap: dict[str, Any], window: str, **scope: Any) -> list[str]:
    """Differences between what the page shows and what /api/kpis says (empty when equal)."""
    problems = []
    expected = expected_tiles(snap, window, **scope)
    if set(dom["rows"]) != set(expected):
        return [f"rows {sorted(dom['rows'])} != {sorted(expected)}"]
    th = Threshold(**snap["thresholds"]["longest_wait_seconds"])
    for row, tiles in expected.items():
        for tile, (text, state) in tiles.items():
            shown = dom["rows"][row][tile]
            if tile == "longest_wait":
                # now - oldest queued call: the page's snapshot was built (dom["now"] - snap["now"])
                # seconds from the API's, so its value is the API's moved by exactly that much
                (api_value,) = [s["live"]["longest_wait_seconds"] for s in snap["calls"]["segments"]
                                if f"{s['queue']}|{s['channel']}" == row]
                value = api_value + (dom["now"] - snap["now"]) if api_value > 0 else 0.0
                text, state = fmt_secs(value), th.state(value)
                if not shown["value"] or abs(float(shown["value"]) - value) > 1e-3:
                    problems.append(f"{row} longest_wait value {shown['value']!r}, expected {value:.3f}")
            if (shown["text"], shown["state"], shown["marker"]) != (text, state, MARKERS[state]):
                problems.append(f"{row} {tile}: shows {shown['text']!r} {shown['state']} {shown['marker']!r},"
                                f" expected {text!r} {state}")
    for name, (text, state) in expected_header(snap, window, **scope).items():
        shown = dom[name]
        if (shown["text"], shown["state"], shown["marker"]) != (text, state, MARKERS[state]):
            problems.append(f"header {name}: shows {shown}, expected {text!r} {state}")
    return problems


def wait_dom_equals_api(browser: Browser, api: str, window: str, timeout: float = 10,
                        **scope: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        dom = browser.js(DOM_TILES)
        snap = get_json(api + "/api/kpis")
        problems = ["the page has no snapshot yet"] if dom["now"] is None else dom_matches(dom, snap, window, **scope)
        if not problems:
            return dom, snap
        if time.monotonic() > deadline:
            raise AssertionError("wall differs from /api/kpis:\n" + "\n".join(problems))
        time.sleep(0.2)


# tile -> the /api/trends series its sparkline must plot; the live gauges plot a related, captioned series
TREND_SERIES = {
    "waiting": ("counts", "offered"), "longest_wait": ("counts", "abandoned"),
    "abandon_rate": ("kpis", "abandon_rate"), "service_level": ("kpis", "service_level"),
    "asa": ("kpis", "asa_seconds"), "aht": ("kpis", "aht_seconds"), "fcr": ("kpis", "fcr_agent_flag"),
    "nps": ("kpis", "nps"), "csat": ("kpis", "csat"),
}
CAPTIONS = {"waiting": "offered/min", "longest_wait": "abandoned/min"}


def spark_problems(dom: dict[str, Any], trends: dict[str, Any]) -> list[str]:
    """Each tile's sparkline against /api/trends: its series, and one vertex per minute with data."""
    problems = []
    calls = {f"{s['queue']}|{s['channel']}": s for s in trends["segments"]}
    surveys = trends["surveys"]["by_queue"]
    for row, tiles in dom["rows"].items():
        queue = row.split("|", 1)[0]
        for tile, (kind, name) in TREND_SERIES.items():
            source = surveys.get(queue) if tile in ("nps", "csat") else calls.get(row)
            series = None if source is None else source[kind][name]
            want = None if series is None else sum(v is not None for v in series)
            shown = tiles[tile]
            got = (shown["series"], shown["points"], shown["vertices"], shown["caption"])
            if got != (f"{kind}.{name}", want, want or 0, CAPTIONS.get(tile, "")):
                problems.append(f"{row} {tile}: sparkline (series, points, vertices, caption) {got},"
                                f" expected {(f'{kind}.{name}', want, want or 0, CAPTIONS.get(tile, ''))}")
    return problems


# --------------------------------------------------------------------------- tests


def afternoon_zone(utc: datetime) -> str:
    """A zone where it is between 03:00 and 20:59 now, so "today" began over 2 h ago
    and a 2 h old call is in "today" but not in "1h", whatever time the test runs."""
    return "UTC" if 3 <= utc.hour <= 20 else "Etc/GMT+6"  # UTC-6: 21-23 h -> 15-17 h, 0-2 h -> 18-20 h


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    settings = load_settings(app_id="itest-wall", batch_within_seconds=0.05,
                             time_zone=afternoon_zone(datetime.now(timezone.utc)),
                             allowed_lateness_seconds=OLDEST_CALL_AGO + 600)
    with LocalStack(settings=settings) as local:
        local.start_infra()
        local.start_worker()
        yield local


def test_wall_shows_api_figures_turns_critical_goes_stale_and_recovers(stack: LocalStack) -> None:
    started = time.monotonic()
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    server = start_wall_server(stack, port)
    phase = publish_and_wait(stack, api, phase_one(datetime.now(timezone.utc)))
    assert len(phase["calls"]["segments"]) == 6, [(s["queue"], s["channel"]) for s in phase["calls"]["segments"]]
    (billing,) = [s for s in phase["calls"]["segments"] if (s["queue"], s["channel"]) == ("billing", "voice")]
    assert billing["windows"][WINDOW]["kpis"]["abandon_rate"] == 0.0
    assert billing["windows"][WINDOW]["kpis"]["service_level"] == pytest.approx(0.75)

    browser = Browser(stack.procs, stack.workdir)
    try:
        browser.navigate(f"{api}/wall?window={WINDOW}&stale_after={STALE_AFTER}")
        dom, snap = wait_dom_equals_api(browser, api, WINDOW)
        assert snap["windows"]["today"]["start"] < snap["windows"]["1h"]["start"]  # afternoon_zone at work
        assert dom["rows"]["billing|voice"]["abandon_rate"]["state"] == "normal"
        assert dom["rows"]["billing|voice"]["service_level"]["state"] == "warning"
        assert dom["rows"]["billing|voice"]["service_level"]["marker"] == "▲ WARN"
        assert dom["rows"]["sales|voice"]["waiting"]["text"] == "1"
        nps, csat = dom["rows"]["billing|voice"]["nps"], dom["rows"]["billing|voice"]["csat"]
        assert (nps["text"], nps["state"], nps["note"]) == ("+33", "normal", "n=3")
        assert (csat["text"], csat["state"], csat["marker"]) == ("66.7%", "warning", "▲ WARN")
        low = dom["rows"]["sales|voice"]["nps"]
        assert (low["text"], low["state"], low["marker"], low["note"]) == ("-100", "lowsample", "◌ LOW SAMPLE", "n=1")
        assert dom["rows"]["support|chat"]["nps"]["state"] == "nodata"
        assert dom["rows"]["support|voice"]["asa"]["text"] == "25s"  # (45 + 5) / 2: the 15m calls only
        # the longest wait is a live gauge: sales has had a call waiting since about 8 s before phase one
        assert float(dom["rows"]["sales|voice"]["longest_wait"]["value"]) >= 8
        # the header: equal to /api/kpis (dom_matches) and to the figures the events imply
        assert (dom["backlog"]["text"], dom["backlog"]["state"]) == ("3", "normal")
        assert (dom["carts"]["text"], dom["carts"]["state"], dom["carts"]["marker"]) == ("75.0%", "warning", "▲ WARN")

        # the same threshold rule as cxpulse.settings.Threshold.state, boundaries included
        for spec in ({"warning": 0.05, "critical": 0.10}, {"warning": 0.8, "critical": 0.7, "higher_is_worse": False}):
            th = Threshold(**spec)
            for value in (None, 0.0, 0.05, 0.0999, 0.10, 0.5, 0.7, 0.75, 0.8, 0.81, 1.0):
                shown = browser.js(f"window.cxpulseWall.thresholdState({json.dumps(th.model_dump())}, {json.dumps(value)})")
                assert shown == th.state(value), (spec, value)

        # sparklines come from /api/trends: its minute buckets add up to the window's counts
        trends = get_json(api + "/api/trends?window=1h")
        (billing_trend,) = [s for s in trends["segments"] if (s["queue"], s["channel"]) == ("billing", "voice")]
        assert len(trends["minutes"]) == 60 and len(billing_trend["counts"]["offered"]) == 60
        assert sum(billing_trend["counts"]["offered"]) == billing["windows"]["1h"]["counts"]["offered"] == 4
        billing_surveys = trends["surveys"]["by_queue"]["billing"]
        assert sum(billing_surveys["counts"]["nps_responses"]) == 3 and sum(billing_surveys["counts"]["csat_responses"]) == 3
        # every tile has its sparkline, one vertex per minute with data
        deadline = time.monotonic() + 5
        while problems := spark_problems(dom := browser.js(DOM_TILES), trends := get_json(api + "/api/trends?window=1h")):
            assert time.monotonic() < deadline, "\n".join(problems)
            time.sleep(0.2)
        billing_row = dom["rows"]["billing|voice"]
        assert all(billing_row[t]["spark"] for t in TREND_SERIES), billing_row  # none of them is empty
        assert billing_row["waiting"]["points"] == 60 and billing_row["nps"]["points"] >= 1

        # a threshold crossing: three abandons push billing's abandon rate over critical
        phase_two_at = time.time()
        publish_and_wait(stack, api, phase_two(datetime.now(timezone.utc)))
        dom, snap = wait_dom_equals_api(browser, api, WINDOW)
        tile = dom["rows"]["billing|voice"]["abandon_rate"]
        assert (tile["text"], tile["state"], tile["marker"]) == ("42.9%", "critical", "■ CRIT")
        assert dom["rows"]["sales|voice"]["abandon_rate"]["state"] == "normal"
        assert time.time() - phase_two_at < STALE_AFTER, "too slow to see the live state"
        assert dom["state"] == "live" and dom["status"] == "● LIVE", dom["status"]
        browser.js("new Promise(r => setTimeout(r, 400))")  # let the state colours settle
        shot = browser.screenshot(ARTIFACTS / "wall.png")
        # `cxpulse top` renders the same live snapshot with the same states
        text = _text(render_top(snap, WINDOW, stale_after=STALE_AFTER))
        (line,) = [x for x in text.splitlines() if "billing" in x and "voice" in x]
        assert "42.9% ■" in line and "0 ●" in line
        assert shot.stat().st_size > 10_000

        # the window selector redraws in place with the other window's figures
        for window, asa in (("5m", "45s"), ("today", "30s"), ("1h", "20s")):
            browser.js(f"document.querySelector('nav.windows a[data-window=\"{window}\"]').click()")
            assert f"window={window}" in browser.js("location.search") and "stale_after=5" in browser.js("location.search")
            dom, _ = wait_dom_equals_api(browser, api, window)
            assert dom["rows"]["support|voice"]["asa"]["text"] == asa, (window, dom["rows"]["support|voice"]["asa"])

        # events stop: DATA STALE once the newest event is older than stale_after
        browser.wait_for("document.body.dataset.state === 'stale'", STALE_AFTER + 5, "stale state")
        dom = browser.js(DOM_TILES)
        assert "DATA STALE" in dom["banner"] and "newest event" in dom["banner"] and "DATA STALE" in dom["status"]
        browser.screenshot(ARTIFACTS / "wall-stale.png")

        # events resume: live again by itself
        now = datetime.now(timezone.utc)
        publish_and_wait(stack, api, call("sales", "voice", "s4", 0, now=now))
        browser.wait_for("document.body.dataset.state === 'live'", 5, "recovery after events resume")

        # the exporter goes away: stale (API unreachable); it comes back: live again
        stack.procs.procs.remove(server)
        server.stop()
        browser.wait_for("document.body.dataset.state === 'stale'", 6, "stale when the API is unreachable")
        assert "API unreachable" in browser.js(DOM_TILES)["banner"]
        server = start_wall_server(stack, port)
        publish_and_wait(stack, api, call("sales", "voice", "s5", 0, now=datetime.now(timezone.utc)))
        browser.wait_for("document.body.dataset.state === 'live'", 6, "recovery after the API returns")

        # a team's TV: one queue, two channels; the header follows the filter too
        browser.navigate(f"{api}/?queue=billing&channel=voice,chat&window=5m&stale_after=60")
        dom, _ = wait_dom_equals_api(browser, api, "5m", queues=["billing"], channels=["voice", "chat"])
        assert sorted(dom["rows"]) == ["billing|chat", "billing|voice"]
        assert dom["backlog"]["text"] == "1"  # t4 only: t1 and t2 are billing e-mails
        assert (dom["carts"]["text"], dom["carts"]["state"]) == ("100.0%", "critical")  # chat carts only
        browser.screenshot(ARTIFACTS / "wall-billing.png")

        # a laptop: the grid reflows, nothing is cut off horizontally
        browser.send("Emulation.setDeviceMetricsOverride", width=1280, height=720, deviceScaleFactor=1, mobile=False)
        browser.navigate(f"{api}/wall?window={WINDOW}&stale_after=60")
        browser.wait_for("document.querySelectorAll('section.row').length >= 3", 5, "rows on a laptop")
        assert browser.js("document.documentElement.scrollWidth <= window.innerWidth")
        browser.screenshot(ARTIFACTS / "wall-laptop.png")
        browser.send("Emulation.setDeviceMetricsOverride", width=900, height=1000, deviceScaleFactor=1, mobile=False)
        browser.js("window.dispatchEvent(new Event('resize'))")
        time.sleep(0.5)
        assert browser.js("document.documentElement.scrollWidth <= window.innerWidth")
        browser.screenshot(ARTIFACTS / "wall-narrow.png")
    finally:
        browser.close()
    assert time.monotonic() - started < 60
