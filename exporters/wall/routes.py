"""Routes of the wallboard: the page, its assets and ``GET /api/trends``.

``register_wall(app)`` adds, to an app built by ``exporters.api.create_web_app``:

* ``/`` and ``/wall``: ``static/index.html``, with the stale limit and the refresh
  period written into ``<body data-…>`` (URL parameters still override them);
* ``/wall/static/…``: the CSS and JavaScript, all from this package;
* ``/api/trends?window=1h``: per queue and channel, one value per minute bucket of
  the call counters and KPIs, and per queue the survey answers, NPS and CSAT (surveys
  are judged per queue on the wall), for the tiles' sparklines.

The trends are the snapshot's own arithmetic on a finer grain: each minute bucket is
read through ``WindowStore.read`` (one pipeline), summed per segment by
``Readout.window`` and turned into ratios by the calls view of ``exporters.views``,
the very functions ``/api/kpis`` uses, so a sparkline's last point and a tile agree.
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import resources
from typing import Any, Iterable

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from cxpulse.settings import Settings
from processors.store import WindowStore
from processors.windows import ROLLING_WINDOWS, rolling

log = logging.getLogger(__name__)

DEFAULT_STALE_SECONDS = 30.0
DEFAULT_REFRESH_SECONDS = 1.0
STATIC_PREFIX = "/wall/static/"

# Windows a sparkline can cover: the rolling ones made of minute buckets (5m, 15m, 1h).
TREND_WINDOWS: dict[str, int] = {name: count for name, (count, res) in ROLLING_WINDOWS.items() if res == "m"}
# Per-minute counters and KPIs served; the KPI names are those of /api/kpis.
TREND_COUNTS = ("offered", "answered", "answered_within_sl", "abandoned", "short_abandoned", "handled")
TREND_KPIS = ("abandon_rate", "answer_rate", "service_level", "asa_seconds", "aht_seconds", "fcr_agent_flag")
TREND_SURVEY_COUNTS = ("nps_responses", "csat_responses")
TREND_SURVEY_KPIS = ("nps", "csat")

_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


class WallConfig:
    def __init__(self, stale_after: float, refresh: float) -> None:
        self.stale_after = stale_after
        self.refresh = refresh
        self.trend_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self.trend_lock = asyncio.Lock()


WALL_KEY: web.AppKey[WallConfig] = web.AppKey("wall", WallConfig)


def static_dir() -> Any:
    return resources.files("exporters.wall").joinpath("static")


def register_wall(app: web.Application, *, stale_after: float | None = None, refresh: float | None = None) -> None:
    """Mount the wallboard on ``app``.

    ``stale_after``: seconds without a new event before the wall says DATA STALE;
    default: the ``wall_stale_seconds`` setting if there is one, else 30 s.
    ``refresh``: seconds between the page's refreshes (default 1). Idempotent: on an
    app that has the wall already (``create_web_app`` mounts it), a second call only
    applies the options it is given.
    """
    if WALL_KEY in app:
        config = app[WALL_KEY]
        if stale_after is not None:
            config.stale_after = stale_after
        if refresh is not None:
            config.refresh = refresh
        return
    settings = _settings_of(app)
    if stale_after is None:
        stale_after = float(getattr(settings, "wall_stale_seconds", DEFAULT_STALE_SECONDS)) if settings else DEFAULT_STALE_SECONDS
    app[WALL_KEY] = WallConfig(stale_after, DEFAULT_REFRESH_SECONDS if refresh is None else refresh)
    app.router.add_get("/", wall_page, name="wall-root")
    app.router.add_get("/wall", wall_page, name="wall")
    app.router.add_get("/wall/", _to_wall)
    app.router.add_get(STATIC_PREFIX + "{name}", wall_asset, name="wall-static")
    app.router.add_get("/api/trends", api_trends, name="api-trends")


def _settings_of(app: web.Application) -> Settings | None:
    from exporters.api import SETTINGS_KEY  # lazy: exporters.api mounts this module

    return app.get(SETTINGS_KEY)


# ----------------------------------------------------------------------- the page

CONTENT_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


async def wall_page(request: web.Request) -> web.Response:
    config = request.app[WALL_KEY]
    html = static_dir().joinpath("index.html").read_text(encoding="utf-8")
    html = html.replace("__STALE_AFTER__", _number(config.stale_after)).replace("__REFRESH__", _number(config.refresh))
    return web.Response(
        text=html, content_type="text/html", charset="utf-8",
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"},
    )


async def wall_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    suffix = name[name.rfind("."):] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in CONTENT_TYPES or name == "index.html":
        raise web.HTTPNotFound()
    asset = static_dir().joinpath(name)
    if not asset.is_file():
        raise web.HTTPNotFound()
    return web.Response(
        body=asset.read_bytes(), content_type=CONTENT_TYPES[suffix], charset="utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


async def _to_wall(request: web.Request) -> web.Response:
    raise web.HTTPFound("/wall" + (f"?{request.query_string}" if request.query_string else ""))


def _number(value: float) -> str:
    return f"{value:g}"


# ---------------------------------------------------------------------- /api/trends


async def api_trends(request: web.Request) -> web.Response:
    from exporters.api import SETTINGS_KEY, STORE_KEY

    window = request.query.get("window", "1h")
    if window not in TREND_WINDOWS:
        return _json({"error": f"unknown window {window!r}; known: {', '.join(TREND_WINDOWS)}"}, status=400)
    config = request.app[WALL_KEY]
    settings = request.app[SETTINGS_KEY]
    try:
        async with config.trend_lock:
            cached = config.trend_cache.get(window)
            if cached is None or time.monotonic() - cached[0] > max(settings.snapshot_cache_seconds, 1.0):
                cached = (time.monotonic(), await build_trends(request.app[STORE_KEY], settings, window))
                config.trend_cache[window] = cached
    except (RedisError, OSError) as exc:
        return _json({"error": "redis unavailable", "detail": str(exc)}, status=503)
    return _json(cached[1])


async def build_trends(store: WindowStore, settings: Settings, window: str = "1h", now: float | None = None) -> dict[str, Any]:
    """Per segment, one value per minute (oldest first) of TREND_COUNTS and TREND_KPIS;
    per queue, the same for TREND_SURVEY_COUNTS and TREND_SURVEY_KPIS."""
    from exporters.views import VIEWS

    now = time.time() if now is None else now
    minutes = rolling(now, TREND_WINDOWS[window], "m")
    calls = VIEWS["calls"]
    readout = await store.read(calls.stream, minutes)
    per_minute = [readout.window([b]) for b in minutes]  # per minute: {segment: summed counters}
    segments = [
        {**dict(zip(calls.dims, seg.split("|"))),
         **_series(calls, [m.get(seg, {}) for m in per_minute], settings, TREND_COUNTS, TREND_KPIS)}
        for seg in readout.segments
    ]
    surveys = VIEWS["surveys"]
    survey_readout = await store.read(surveys.stream, minutes)
    survey_minutes = [survey_readout.window([b]) for b in minutes]
    queues = sorted({seg.split("|", 1)[0] for seg in survey_readout.segments})

    def queue_rows(queue: str) -> list[dict[str, float]]:
        return [_sum(v for seg, v in m.items() if seg.split("|", 1)[0] == queue) for m in survey_minutes]

    return {
        "window": window,
        "resolution_seconds": 60,
        "now": now,
        "minutes": [b.start for b in minutes],
        "segments": segments,
        "all": _series(calls, [_sum(m.values()) for m in per_minute], settings, TREND_COUNTS, TREND_KPIS),
        "surveys": {
            "by_queue": {q: _series(surveys, queue_rows(q), settings, TREND_SURVEY_COUNTS, TREND_SURVEY_KPIS)
                         for q in queues},
            "all": _series(surveys, [_sum(m.values()) for m in survey_minutes], settings,
                           TREND_SURVEY_COUNTS, TREND_SURVEY_KPIS),
        },
    }


def _series(view: Any, rows: list[dict[str, float]], settings: Settings, counts: tuple[str, ...],
            kpis: tuple[str, ...]) -> dict[str, Any]:
    """Minute rows -> {"counts": {name: [...]}, "kpis": {name: [...]}} through the view's own KPI functions."""
    full = [view.counts(row) for row in rows]
    figures = [view.kpis(row, settings) for row in full]
    return {
        "counts": {name: [row.get(name, 0.0) for row in full] for name in counts},
        "kpis": {name: [f.get(name) for f in figures] for name in kpis},
    }


def _sum(parts: Iterable[dict[str, float]]) -> dict[str, float]:
    acc: dict[str, float] = {}
    for part in parts:
        for name, value in part.items():
            acc[name] = acc.get(name, 0.0) + value
    return acc


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), status=status, content_type="application/json"
    )


__all__ = ["register_wall", "build_trends", "TREND_WINDOWS", "WALL_KEY"]
