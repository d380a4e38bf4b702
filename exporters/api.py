"""The exporter's HTTP server: ``/metrics``, ``/api/kpis``, ``/healthz`` and the wall.

Every figure is read from Redis, so an exporter restart resets nothing and several
exporters can serve one deployment. One snapshot, rebuilt in the background while
anyone reads it (``exporters.snapshot_cache``), serves the wall, Prometheus and API
clients alike: a request never waits for Redis unless the snapshot is too old.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import ssl
import time
from typing import Any

import orjson
from aiohttp import web
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from cxpulse.settings import Settings, redis_url_of
from exporters.collector import SnapshotCollector
from exporters.entry_memo import EntryMemo
from exporters.exposition import generate
from exporters.snapshot import build_snapshot
from exporters.snapshot_cache import SnapshotCache
from exporters.wall import register_wall
from processors import gc_tuning
from processors.store import WindowStore, connect

log = logging.getLogger(__name__)

STORE_KEY: web.AppKey[WindowStore] = web.AppKey("store", WindowStore)
SETTINGS_KEY: web.AppKey[Settings] = web.AppKey("settings", Settings)


CACHE_KEY: web.AppKey[SnapshotCache] = web.AppKey("cache", SnapshotCache)


class _ExporterSelf:
    """Metrics about the exporter itself, so a dead Redis shows up as data, not a 500."""

    def __init__(self, up: bool, duration: float) -> None:
        self.up, self.duration = up, duration

    def collect(self):  # type: ignore[no-untyped-def]
        yield GaugeMetricFamily("cx_exporter_redis_up", "1 if the last Redis read succeeded", value=1 if self.up else 0)
        yield GaugeMetricFamily(
            "cx_exporter_snapshot_duration_seconds", "Time the last snapshot took to read from Redis, compute and render for /metrics", value=self.duration
        )


def render_metrics(snapshot: dict[str, Any]) -> bytes:
    # what generate_latest writes for this collector, in half the time (exporters/exposition.py)
    return generate(SnapshotCollector(snapshot).collect())


def render_json(snapshot: dict[str, Any]) -> bytes:
    return orjson.dumps(snapshot, option=orjson.OPT_NON_STR_KEYS)


async def metrics(request: web.Request) -> web.Response:
    cache = request.app[CACHE_KEY]
    body = b""
    try:
        body = (await cache.get()).body("metrics", render_metrics)
        up = True
    except (RedisError, OSError) as exc:
        log.warning("redis read failed during scrape: %s", exc)
        up = False
    own = generate(_ExporterSelf(up, cache.last_duration).collect())
    return web.Response(body=body + own, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def api_kpis(request: web.Request) -> web.Response:
    try:
        body = (await request.app[CACHE_KEY].get()).body("json", render_json)
    except (RedisError, OSError) as exc:
        return _json({"error": "redis unavailable", "detail": str(exc)}, status=503)
    return web.Response(body=body, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    try:
        await store.client.ping()
    except (RedisError, OSError) as exc:
        return _json({"status": "degraded", "redis": "down", "detail": str(exc)}, status=503)
    return _json({"status": "ok", "redis": "up"})


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), status=status, content_type="application/json"
    )


OPEN_PATHS = frozenset({"/healthz"})  # liveness probes need no credentials


def basic_auth(user: str, password: str):  # type: ignore[no-untyped-def]
    """Every path but /healthz needs the credentials; compared in constant time."""
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if request.path in OPEN_PATHS:
            return await handler(request)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return web.Response(status=401, text="authentication required",
                                headers={"WWW-Authenticate": 'Basic realm="cxpulse"'})
        return await handler(request)

    return middleware


def create_web_app(settings: Settings, store: WindowStore | None = None) -> web.Application:
    middlewares = []
    if settings.exporter_basic_auth_user and settings.exporter_basic_auth_password:
        middlewares.append(
            basic_auth(settings.exporter_basic_auth_user, settings.exporter_basic_auth_password.get_secret_value())
        )
    app = web.Application(middlewares=middlewares)
    store = store or WindowStore(connect(redis_url_of(settings)), settings.app_id)
    app[STORE_KEY] = store
    app[SETTINGS_KEY] = settings
    memo = EntryMemo(settings)  # windows whose counts did not move are not recomputed
    app[CACHE_KEY] = SnapshotCache(
        lambda: build_snapshot(store, settings, memo=memo),
        period=settings.snapshot_cache_seconds,
        idle=settings.snapshot_idle_seconds,
        prerender={"metrics": render_metrics},  # Prometheus is the reader that always comes back
    )
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/kpis", api_kpis)
    app.router.add_get("/healthz", healthz)
    register_wall(app)  # the wallboard: /, /wall, /wall/static/*, /api/trends (docs/wallboard.md)

    async def close_store(app: web.Application) -> None:
        await app[CACHE_KEY].close()
        await app[STORE_KEY].client.aclose()

    app.on_cleanup.append(close_store)
    return app


def run_exporter(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; binds 127.0.0.1 unless told otherwise."""
    app = create_web_app(settings)
    ssl_context = None
    if settings.exporter_tls_certfile and settings.exporter_tls_keyfile:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(settings.exporter_tls_certfile, settings.exporter_tls_keyfile)
    scheme = "https" if ssl_context else "http"
    auth = " (basic auth)" if settings.exporter_basic_auth_user else ""
    log.info("exporter listening on %s://%s:%d%s (wall at /wall)", scheme, settings.exporter_host,
             settings.exporter_port, auth)
    if settings.gc_freeze:
        # as in the worker (processors/gc_tuning.py): in a 5k events/s run the collector
        # took ~4 % of the exporter's CPU (~300 young and 2 full collections of ~40 ms,
        # each stalling a build); after this, none but the one settle() makes
        gc_tuning.settle(settings.gc_young_threshold)
    web.run_app(
        app, host=settings.exporter_host, port=settings.exporter_port, print=None, access_log=None,
        handle_signals=True, shutdown_timeout=5, ssl_context=ssl_context,
    )
