"""One read of Redis -> every figure the exporter serves, as plain data.

``/metrics`` and ``/api/kpis`` render the same snapshot, so a wall reading the API
and a Grafana panel reading Prometheus can never disagree. Windows are summed
from buckets here (counters only), then the pure KPI functions take the ratios.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable

from cxpulse.settings import Settings
from processors.fold import CALL_FIELDS
from processors.kpis import calls as call_kpis
from processors.store import WindowStore
from processors.windows import CALL_WINDOWS, window_buckets, window_span

log = logging.getLogger(__name__)

HEALTH_COUNTERS = ("processed", "duplicate", "replayed")


def compute_call_kpis(counts: dict[str, float], settings: Settings) -> dict[str, float | None]:
    c = {name: counts.get(name, 0.0) for name in CALL_FIELDS}
    formulas: dict[str, Callable[[], float | None]] = {
        "abandon_rate": lambda: call_kpis.abandon_rate(
            offered=c["offered"], abandoned=c["abandoned"], short_abandoned=c["short_abandoned"],
            mode=settings.abandon_rate_mode,
        ),
        "answer_rate": lambda: call_kpis.answer_rate(offered=c["offered"], answered=c["answered"]),
        "service_level": lambda: call_kpis.service_level(
            answered=c["answered"], answered_within=c["answered_within_sl"], abandoned=c["abandoned"],
            abandoned_within=c["abandoned_within_sl"], short_abandoned=c["short_abandoned"],
            mode=settings.service_level_mode,
        ),
        "asa_seconds": lambda: call_kpis.average_speed_of_answer(
            answer_wait_seconds=c["answer_wait_seconds"], answered=c["answered"]
        ),
        "aht_seconds": lambda: call_kpis.average_handle_time(
            talk_seconds=c["talk_seconds"], hold_seconds=c["hold_seconds"], acw_seconds=c["acw_seconds"],
            handled=c["handled"], components=settings.aht_components,
        ),
        "transfer_rate": lambda: call_kpis.transfer_rate(transferred=c["transferred"], handled=c["handled"]),
        "fcr_agent_flag": lambda: call_kpis.fcr_agent_flag(resolved=c["fcr_resolved"], flagged=c["fcr_flagged"]),
        "fcr_repeat_contact": lambda: call_kpis.fcr_repeat_contact(
            followed_by_repeat=c["followed_by_repeat"], eligible=c["fcr_eligible"]
        ),
        "repeat_contact_rate": lambda: call_kpis.repeat_contact_rate(
            repeat_contacts=c["repeat_contacts"], eligible=c["fcr_eligible"]
        ),
    }
    out: dict[str, float | None] = {}
    for name, formula in formulas.items():
        try:
            out[name] = formula()
        except ValueError as exc:  # inconsistent counters must not break a scrape
            log.warning("KPI %s not computed: %s", name, exc)
            out[name] = None
    return out


def _sum(parts: list[dict[str, float]]) -> dict[str, float]:
    acc: dict[str, float] = {}
    for part in parts:
        for name, value in part.items():
            acc[name] = acc.get(name, 0.0) + value
    return acc


def _split(segment: str) -> tuple[str, str]:
    queue, _, channel = segment.partition("|")
    return queue, channel


async def build_snapshot(store: WindowStore, settings: Settings, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    zone = settings.zone
    per_window = {w: window_buckets(w, now, zone) for w in CALL_WINDOWS}
    readout = await store.read("calls", [b for bs in per_window.values() for b in bs])
    waiting = await store.waiting(readout.segments)
    health = await store.health()
    workers = await store.workers()
    sums = {w: readout.window(bs) for w, bs in per_window.items()}

    segments = []
    for seg in readout.segments:
        queue, channel = _split(seg)
        count, oldest = waiting.get(seg, (0, None))
        cfg = settings.queue(queue)
        segments.append(
            {
                "queue": queue,
                "channel": channel,
                "thresholds": cfg.model_dump(),
                "live": {"waiting": count, "longest_wait_seconds": call_kpis.longest_wait(now, oldest)},
                "totals": {name: readout.totals.get(seg, {}).get(name, 0.0) for name in CALL_FIELDS},
                "windows": {
                    w: _window_entry(sums[w].get(seg, {}), settings) for w in CALL_WINDOWS
                },
            }
        )
    overall = {
        "live": {
            "waiting": sum(s["live"]["waiting"] for s in segments),
            "longest_wait_seconds": max((s["live"]["longest_wait_seconds"] for s in segments), default=0.0),
        },
        "windows": {w: _window_entry(_sum(list(sums[w].values())), settings) for w in CALL_WINDOWS},
    }
    spans = {w: dict(zip(("start", "end"), map(_iso, window_span(w, now, zone)))) for w in CALL_WINDOWS}
    return {
        "generated_at": _iso(now),
        "now": now,
        "time_zone": settings.time_zone,
        "windows": spans,
        "settings": {
            "service_level_mode": settings.service_level_mode.value,
            "abandon_rate_mode": settings.abandon_rate_mode.value,
            "aht_components": list(settings.aht_components),
            "fcr_repeat_window_days": settings.fcr_repeat_window_days,
        },
        "thresholds": settings.thresholds.model_dump(),
        "calls": {"segments": segments, "all": overall},
        "pipeline": _pipeline(health, workers, settings, now),
    }


def _window_entry(counts: dict[str, float], settings: Settings) -> dict[str, Any]:
    full = {name: counts.get(name, 0.0) for name in CALL_FIELDS}
    return {"counts": full, "kpis": compute_call_kpis(full, settings)}


WORKER_ALIVE_SECONDS = 10.0


def _pipeline(health: dict[str, float], workers: dict[str, float], settings: Settings, now: float) -> dict[str, Any]:
    topics: dict[str, dict[str, Any]] = {}
    for topic in settings.topics.sources().values():
        topics[topic] = _empty_topic()
    for field, value in health.items():
        parts = field.split("|")
        entry = topics.setdefault(parts[0], _empty_topic())
        if len(parts) == 3 and parts[1] == "rejected":
            entry["rejected"][parts[2]] = value
        elif len(parts) == 2:
            entry[parts[1]] = value
    return {
        "topics": topics,
        "workers": {wid: {"last_heartbeat_ts": ts, "age_seconds": max(now - ts, 0.0)} for wid, ts in workers.items()},
        "workers_alive": sum(1 for ts in workers.values() if now - ts <= WORKER_ALIVE_SECONDS),
    }


def _empty_topic() -> dict[str, Any]:
    return {name: 0.0 for name in HEALTH_COUNTERS} | {"rejected": {}, "last_event_ts": None, "last_processed_ts": None}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()
