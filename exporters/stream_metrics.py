"""Survey, ticket and cart metric families (names: docs/metrics-contract.md)."""

from __future__ import annotations

from typing import Any, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporters.families import count, counter, kpi, live, windowed
from exporters.views import SURVEY_TYPES, VIEWS

SURVEY_COUNTERS = {
    "nps_promoters": ("cx_nps_promoters", "NPS answers 9-10"),
    "nps_passives": ("cx_nps_passives", "NPS answers 7-8"),
    "nps_detractors": ("cx_nps_detractors", "NPS answers 0-6"),
    "csat_satisfied": ("cx_csat_satisfied", "CSAT answers in the satisfied set"),
    "csat_score": ("cx_csat_score", "CSAT answers normalised to 1-5, summed"),
    "ces_easy": ("cx_ces_easy", "CES answers at or above the 'easy' threshold"),
    "ces_score": ("cx_ces_score", "CES answers normalised to 1-7 (higher = easier), summed"),
}
SURVEY_GAUGES = {
    "cx_nps_score": (kpi("nps"), "Net Promoter Score, -100..100"),
    "cx_nps_responses": (count("nps_responses"), "NPS answers in the window (sample size)"),
    "cx_csat_ratio": (kpi("csat"), "Share of satisfied CSAT answers"),
    "cx_csat_mean_score": (kpi("csat_mean"), "Mean CSAT answer on a 1-5 scale"),
    "cx_csat_responses": (count("csat_responses"), "CSAT answers in the window (sample size)"),
    "cx_ces_mean_score": (kpi("ces_mean"), "Mean CES answer on a 1-7 scale, higher = easier"),
    "cx_ces_easy_ratio": (kpi("ces_easy_rate"), "Share of 'easy' CES answers"),
    "cx_ces_responses": (count("ces_responses"), "CES answers in the window (sample size)"),
}


def survey_metrics(snapshot: dict[str, Any]) -> Iterable[Metric]:
    view = VIEWS["surveys"]
    section = snapshot["surveys"]
    segments, dims = section["segments"], view.dims
    for field, (name, help_text) in SURVEY_COUNTERS.items():
        yield counter(name, help_text, segments, dims, field)
    sent = CounterMetricFamily("cx_survey_sent", "Surveys sent", labels=[*dims, "survey_type"])
    responses = CounterMetricFamily("cx_survey_responses", "Survey answers received", labels=[*dims, "survey_type"])
    ratio = GaugeMetricFamily(
        "cx_survey_response_ratio", "Answers / surveys sent in the window", labels=[*dims, "window", "survey_type"]
    )
    for t in SURVEY_TYPES:
        counter("", "", segments, dims, f"sent_{t}", {"survey_type": t}, sent)
        counter("", "", segments, dims, f"responses_{t}", {"survey_type": t}, responses)
        windowed("", "", segments, dims, view.windows, lambda e, t=t: e["kpis"]["response_rate"][t],
                 {"survey_type": t}, ratio)
    yield sent
    yield responses
    yield ratio
    for name, (getter, help_text) in SURVEY_GAUGES.items():
        yield windowed(name, help_text, segments, dims, view.windows, getter)
    last = GaugeMetricFamily("cx_nps_score_last_n", "NPS of the newest N answers", labels=list(dims))
    last_count = GaugeMetricFamily("cx_nps_last_n_responses", "Answers behind cx_nps_score_last_n", labels=list(dims))
    for seg in segments:
        key = [seg[d] for d in dims]
        if seg["last_n"]["nps"] is not None:
            last.add_metric(key, seg["last_n"]["nps"])
        last_count.add_metric(key, seg["last_n"]["responses"])
    yield last
    yield last_count
    yield GaugeMetricFamily("cx_survey_min_sample", "Answers needed before a survey figure is meaningful",
                            value=section["min_sample"])


TICKET_COUNTERS = {
    "created": ("cx_tickets_created", "Tickets created"),
    "first_responses": ("cx_tickets_first_responses", "Tickets that got a first response"),
    "first_response_seconds": ("cx_ticket_first_response_seconds", "Time to first response, summed"),
    "resolved": ("cx_tickets_resolved", "Tickets resolved"),
    "resolution_seconds": ("cx_ticket_resolution_seconds", "Time to resolution, summed"),
    "resolved_first_contact": ("cx_tickets_resolved_first_contact", "Tickets resolved with one contact"),
    "reopened": ("cx_tickets_reopened", "Tickets reopened"),
    "escalated": ("cx_tickets_escalated", "Tickets escalated (first escalation)"),
    "reassigned": ("cx_tickets_reassigned", "Ticket reassignments"),
    "closed": ("cx_tickets_closed", "Tickets closed"),
}


def ticket_metrics(snapshot: dict[str, Any]) -> Iterable[Metric]:
    view = VIEWS["tickets"]
    segments, dims, windows = snapshot["tickets"]["segments"], view.dims, view.windows
    for field, (name, help_text) in TICKET_COUNTERS.items():
        yield counter(name, help_text, segments, dims, field)
    for name, prefix, help_text in (("cx_ticket_ttr_seconds", "ttr", "Time to resolution"),
                                    ("cx_ticket_frt_seconds", "frt", "Time to first response")):
        family = GaugeMetricFamily(name, help_text + " in the window", labels=[*dims, "window", "stat"])
        for stat in ("mean", "p50", "p90"):
            windowed("", "", segments, dims, windows, kpi(f"{prefix}_{stat}_seconds"), {"stat": stat}, family)
        yield family
    yield windowed("cx_ticket_reopen_ratio", "Reopened / resolved", segments, dims, windows, kpi("reopen_rate"))
    yield windowed("cx_ticket_escalation_ratio", "Escalated / created", segments, dims, windows, kpi("escalation_rate"))
    yield windowed("cx_ticket_fcr_ratio", "Resolved with one contact / resolved", segments, dims, windows, kpi("fcr"))
    in_window = GaugeMetricFamily("cx_tickets_in_window", "Ticket counts in the window", labels=[*dims, "window", "kind"])
    for kind in ("created", "resolved"):
        windowed("", "", segments, dims, windows, count(kind), {"kind": kind}, in_window)
    yield in_window
    categories = GaugeMetricFamily(
        "cx_tickets_by_category", "Tickets created per category (top categories)", labels=[*dims, "window", "category"]
    )
    for seg in segments:
        for window in windows:
            for category, value in seg["windows"][window]["kpis"]["top_categories"]:
                categories.add_metric([*(seg[d] for d in dims), window, category], value)
    yield categories
    yield live("cx_tickets_open", "Open tickets now (backlog)", segments, dims, "open")
    yield live("cx_ticket_oldest_open_age_seconds", "Age of the oldest open ticket", segments, dims,
               "oldest_open_age_seconds")


def cart_metrics(snapshot: dict[str, Any]) -> Iterable[Metric]:
    view = VIEWS["carts"]
    segments, dims, windows = snapshot["carts"]["segments"], view.dims, view.windows
    yield counter("cx_carts_created", "Carts created", segments, dims, "created")
    yield counter("cx_checkouts_started", "Checkouts started", segments, dims, "checkouts_started")
    yield counter("cx_checkouts_completed", "Checkouts completed (orders)", segments, dims, "completed")
    abandoned = CounterMetricFamily("cx_carts_abandoned", "Carts abandoned", labels=[*dims, "how"])
    counter("", "", segments, dims, "abandoned_explicit", {"how": "explicit"}, abandoned)
    counter("", "", segments, dims, "abandoned_timeout", {"how": "timeout"}, abandoned)
    yield abandoned
    revenue = CounterMetricFamily("cx_cart_revenue", "Revenue of completed checkouts", labels=[*dims, "currency"])
    orders = CounterMetricFamily("cx_cart_orders", "Completed checkouts per currency", labels=[*dims, "currency"])
    aov = GaugeMetricFamily("cx_cart_average_order_value", "Revenue / orders in the window",
                            labels=[*dims, "window", "currency"])
    for seg in segments:
        key = [seg[d] for d in dims]
        for field, value in seg["totals"].items():
            if field.startswith("revenue:"):
                revenue.add_metric([*key, field[8:]], value)
            elif field.startswith("orders:"):
                orders.add_metric([*key, field[7:]], value)
        for window in windows:
            for currency, value in seg["windows"][window]["kpis"]["aov"].items():
                if value is not None:
                    aov.add_metric([*key, window, currency], value)
    yield revenue
    yield orders
    yield aov
    yield windowed("cx_cart_abandonment_ratio", "Abandoned / created", segments, dims, windows, kpi("abandonment_rate"))
    yield windowed("cx_cart_completion_ratio", "Completed / created", segments, dims, windows, kpi("completion_rate"))
    in_window = GaugeMetricFamily("cx_carts_in_window", "Cart counts in the window", labels=[*dims, "window", "kind"])
    for kind in ("created", "completed", "abandoned"):
        windowed("", "", segments, dims, windows, count(kind), {"kind": kind}, in_window)
    yield in_window
    yield live("cx_carts_open", "Carts open now (not completed, not yet abandoned)", segments, dims, "open")
