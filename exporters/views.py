"""Per-stream views: which dimensions a segment has, which windows are read, which KPIs
are computed from a window's summed counters. The snapshot walks these, so adding a
stream is a view, not a new code path."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from cxpulse.settings import Settings
from processors.fold_calls import CALL_FIELDS
from processors.kpis import carts as cart_kpi
from processors.kpis import calls as call_kpi
from processors.kpis import surveys as survey_kpi
from processors.kpis import tickets as ticket_kpi

log = logging.getLogger(__name__)

Counts = dict[str, float]


def _safe(name: str, formula: Callable[[], Any]) -> Any:
    """A KPI that cannot be computed from inconsistent counters is null, never a broken scrape."""
    try:
        return formula()
    except ValueError as exc:
        log.warning("KPI %s not computed: %s", name, exc)
        return None


def call_kpis(c: Counts, settings: Settings) -> dict[str, Any]:
    c = {name: c.get(name, 0.0) for name in CALL_FIELDS}
    formulas: dict[str, Callable[[], Any]] = {
        "abandon_rate": lambda: call_kpi.abandon_rate(
            offered=c["offered"], abandoned=c["abandoned"], short_abandoned=c["short_abandoned"],
            mode=settings.abandon_rate_mode,
        ),
        "answer_rate": lambda: call_kpi.answer_rate(offered=c["offered"], answered=c["answered"]),
        "service_level": lambda: call_kpi.service_level(
            answered=c["answered"], answered_within=c["answered_within_sl"], abandoned=c["abandoned"],
            abandoned_within=c["abandoned_within_sl"], short_abandoned=c["short_abandoned"],
            mode=settings.service_level_mode,
        ),
        "asa_seconds": lambda: call_kpi.average_speed_of_answer(
            answer_wait_seconds=c["answer_wait_seconds"], answered=c["answered"]
        ),
        "aht_seconds": lambda: call_kpi.average_handle_time(
            talk_seconds=c["talk_seconds"], hold_seconds=c["hold_seconds"], acw_seconds=c["acw_seconds"],
            handled=c["handled"], components=settings.aht_components,
        ),
        "transfer_rate": lambda: call_kpi.transfer_rate(transferred=c["transferred"], handled=c["handled"]),
        "fcr_agent_flag": lambda: call_kpi.fcr_agent_flag(resolved=c["fcr_resolved"], flagged=c["fcr_flagged"]),
        "fcr_repeat_contact": lambda: call_kpi.fcr_repeat_contact(
            followed_by_repeat=c["followed_by_repeat"], eligible=c["fcr_eligible"]
        ),
        "repeat_contact_rate": lambda: call_kpi.repeat_contact_rate(
            repeat_contacts=c["repeat_contacts"], eligible=c["fcr_eligible"]
        ),
    }
    return {name: _safe(name, formula) for name, formula in formulas.items()}


SURVEY_FIELDS = (
    "nps_responses", "nps_promoters", "nps_passives", "nps_detractors",
    "csat_responses", "csat_satisfied", "csat_score", "ces_responses", "ces_easy", "ces_score",
    "sent_nps", "sent_csat", "sent_ces", "responses_nps", "responses_csat", "responses_ces",
)
SURVEY_TYPES = ("nps", "csat", "ces")


def survey_kpis(c: Counts, settings: Settings) -> dict[str, Any]:
    c = {name: c.get(name, 0.0) for name in SURVEY_FIELDS}
    bands = survey_kpi.nps_bands_for(settings.nps_band_set, settings.nps_custom_bands)
    nps = _safe("nps", lambda: survey_kpi.nps(
        promoters=c["nps_promoters"], passives=c["nps_passives"], detractors=c["nps_detractors"]))
    minimum = settings.survey_min_sample
    return {
        "nps": nps,
        "nps_band": survey_kpi.nps_band(nps, bands),
        "csat": _safe("csat", lambda: survey_kpi.csat(satisfied=c["csat_satisfied"], responses=c["csat_responses"])),
        "csat_mean": _safe("csat_mean", lambda: survey_kpi.mean_score(total=c["csat_score"], count=c["csat_responses"])),
        "ces_mean": _safe("ces_mean", lambda: survey_kpi.mean_score(total=c["ces_score"], count=c["ces_responses"])),
        "ces_easy_rate": _safe("ces_easy_rate", lambda: survey_kpi.ces_easy_rate(easy=c["ces_easy"], responses=c["ces_responses"])),
        "response_rate": {
            t: _safe(f"response_rate_{t}", lambda t=t: survey_kpi.response_rate(
                responses=c[f"responses_{t}"], sent=c[f"sent_{t}"]))
            for t in SURVEY_TYPES
        },
        "meaningful": {t: survey_kpi.meaningful(c[f"{t}_responses"], minimum) for t in SURVEY_TYPES},
    }


TICKET_FIELDS = (
    "created", "first_responses", "first_response_seconds", "resolved", "resolution_seconds",
    "resolved_first_contact", "reopened", "escalated", "reassigned", "closed",
)


def ticket_kpis(c: Counts, settings: Settings) -> dict[str, Any]:
    full = {name: c.get(name, 0.0) for name in TICKET_FIELDS}
    ttr_hist = [c.get(f, 0.0) for f in ticket_kpi.bucket_fields("ttr", ticket_kpi.TTR_BOUNDARIES)]
    frt_hist = [c.get(f, 0.0) for f in ticket_kpi.bucket_fields("frt", ticket_kpi.FRT_BOUNDARIES)]
    categories = {name[4:]: value for name, value in c.items() if name.startswith("cat:")}
    return {
        "ttr_mean_seconds": _safe("ttr", lambda: ticket_kpi.ttr(
            total_seconds=full["resolution_seconds"], resolved=full["resolved"], requests=full["created"],
            denominator=settings.ttr_denominator)),
        "ttr_p50_seconds": _safe("ttr_p50", lambda: ticket_kpi.quantile(0.5, ttr_hist, ticket_kpi.TTR_BOUNDARIES)),
        "ttr_p90_seconds": _safe("ttr_p90", lambda: ticket_kpi.quantile(0.9, ttr_hist, ticket_kpi.TTR_BOUNDARIES)),
        "frt_mean_seconds": _safe("frt", lambda: ticket_kpi.mean_duration(
            total_seconds=full["first_response_seconds"], count=full["first_responses"])),
        "frt_p50_seconds": _safe("frt_p50", lambda: ticket_kpi.quantile(0.5, frt_hist, ticket_kpi.FRT_BOUNDARIES)),
        "frt_p90_seconds": _safe("frt_p90", lambda: ticket_kpi.quantile(0.9, frt_hist, ticket_kpi.FRT_BOUNDARIES)),
        "reopen_rate": _safe("reopen_rate", lambda: ticket_kpi.reopen_rate(reopened=full["reopened"], resolved=full["resolved"])),
        "escalation_rate": _safe("escalation_rate", lambda: ticket_kpi.escalation_rate(
            escalated=full["escalated"], created=full["created"])),
        "fcr": _safe("ticket_fcr", lambda: ticket_kpi.ticket_fcr(
            resolved_first_contact=full["resolved_first_contact"], resolved=full["resolved"])),
        "top_categories": _safe("top_categories", lambda: ticket_kpi.top_categories(
            categories, settings.ticket_top_categories)) or [],
    }


CART_FIELDS = ("created", "checkouts_started", "completed", "abandoned_explicit", "abandoned_timeout")


def cart_kpis(c: Counts, settings: Settings) -> dict[str, Any]:
    full = {name: c.get(name, 0.0) for name in CART_FIELDS}
    abandoned = full["abandoned_explicit"] + full["abandoned_timeout"]
    currencies = sorted(name.split(":", 1)[1] for name in c if name.startswith("orders:"))
    return {
        "abandonment_rate": _safe("cart_abandonment", lambda: cart_kpi.abandonment_rate(
            created=full["created"], abandoned=abandoned)),
        "completion_rate": _safe("cart_completion", lambda: cart_kpi.completion_rate(
            created=full["created"], completed=full["completed"])),
        "aov": {cur: _safe("aov", lambda cur=cur: cart_kpi.average_order_value(
            revenue=c.get(f"revenue:{cur}", 0.0), orders=c.get(f"orders:{cur}", 0.0))) for cur in currencies},
        "revenue": {cur: c.get(f"revenue:{cur}", 0.0) for cur in currencies},
    }


def _complete(fields: tuple[str, ...]) -> Callable[[Counts], Counts]:
    """Known fields present (zero when absent) plus whatever dynamic fields exist."""

    def fill(counts: Counts) -> Counts:
        return {name: counts.get(name, 0.0) for name in fields} | counts

    return fill


def _cart_counts(counts: Counts) -> Counts:
    full = _complete(CART_FIELDS)(counts)
    full["abandoned"] = full["abandoned_explicit"] + full["abandoned_timeout"]
    return full


@dataclass(frozen=True)
class StreamView:
    stream: str
    dims: tuple[str, ...]
    windows: tuple[str, ...]
    kpis: Callable[[Counts, Settings], dict[str, Any]]
    counts: Callable[[Counts], Counts]


VIEWS: dict[str, StreamView] = {
    "calls": StreamView("calls", ("queue", "channel"), ("5m", "15m", "1h", "today"), call_kpis, _complete(CALL_FIELDS)),
    "surveys": StreamView(
        "surveys", ("queue", "channel", "touchpoint"), ("1h", "24h", "7d", "30d"), survey_kpis, _complete(SURVEY_FIELDS)
    ),
    "tickets": StreamView("tickets", ("queue", "channel"), ("1h", "24h", "7d", "today"), ticket_kpis, _complete(TICKET_FIELDS)),
    "carts": StreamView("carts", ("channel",), ("15m", "1h", "24h", "today"), cart_kpis, _cart_counts),
}
