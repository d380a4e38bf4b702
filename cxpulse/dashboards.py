"""Grafana dashboards for cxpulse, generated from code and ``Settings().thresholds``.

Four dashboards (Grafana's classic JSON model, ``schemaVersion`` 39), written to
``ops/grafana/dashboards/`` and provisioned by ``ops/grafana/provisioning``:

* ``cxpulse-wall``: the contact-centre wall. One repeated row of large stat tiles per
  queue (calls waiting, longest wait, abandon rate, service level, ASA, AHT), coloured
  with the very ``Thresholds`` the alert rules page on, then trends;
* ``cxpulse-surveys``: NPS, CSAT and CES with their sample counts;
* ``cxpulse-tickets-carts``: ticket backlog and times, cart abandonment and orders;
* ``cxpulse-pipeline``: workers, lag, throughput, dead letters, exporter health.

Every KPI is computed in PromQL from the raw counters with the builders of
``cxpulse.rules`` (sums of numerators over sums of denominators, ``Settings`` modes
honoured), so a tile, the alert and ``/api/kpis`` agree. A unit test fails when the
committed JSON differs from what this module generates; regenerate with::

    cxpulse dashboards --out ops/grafana/dashboards   # or: python -m cxpulse.dashboards

Threshold colours agree with ``Threshold.state`` (the wall) and the alert rules at the
levels themselves: a value equal to a level is already in that state. Grafana gives a
value the colour of the last step it is at or above, which is that rule for
higher-is-worse KPIs. For lower-is-worse KPIs (service level, NPS, CSAT, CES) "red at or
below critical" needs the amber step just *above* the critical level, so the steps sit
on the next float after each level (``math.nextafter``): 0.7 itself is red, the very
next representable number is amber (``threshold_steps``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from cxpulse import rules as q
from cxpulse.rules import Scope
from cxpulse.settings import Settings, Threshold

DASHBOARDS_DIR = Path("ops/grafana/dashboards")
DATASOURCE_UID = "cxpulse-prometheus"
DS = {"type": "prometheus", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39

GREEN, AMBER, RED, BLUE = "green", "orange", "red", "blue"


# --------------------------------------------------------------------------- building blocks


def threshold_steps(threshold: Threshold) -> list[dict[str, Any]]:
    """Grafana steps for a ``Threshold`` that colour a value exactly as ``Threshold.state``.

    Higher is worse: green, amber from warning, red from critical (Grafana's ">= step").
    Lower is worse: red, amber from just above critical, green from just above warning,
    so a value equal to a level keeps that level's colour, as on the wall.
    """
    if threshold.higher_is_worse:
        return [
            {"color": GREEN, "value": None},
            {"color": AMBER, "value": threshold.warning},
            {"color": RED, "value": threshold.critical},
        ]
    return [
        {"color": RED, "value": None},
        {"color": AMBER, "value": math.nextafter(threshold.critical, math.inf)},
        {"color": GREEN, "value": math.nextafter(threshold.warning, math.inf)},
    ]


def _steps(*pairs: tuple[str, float | None]) -> list[dict[str, Any]]:
    return [{"color": color, "value": value} for color, value in pairs]


def _describe(threshold: Threshold | None, text: str, fmt: str = "{:g}") -> str:
    if threshold is None:
        return text
    worse = "at or above" if threshold.higher_is_worse else "at or below"
    return (f"{text} Amber {worse} {fmt.format(threshold.warning)}, red {worse} "
            f"{fmt.format(threshold.critical)} (Settings.thresholds, the alert rules use the same).")


def _pct(value: float) -> str:
    return f"{value * 100:g} %"


class Layout:
    """Hands out panel ids and grid positions, left to right then down (24 columns)."""

    def __init__(self) -> None:
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def place(self, w: int, h: int) -> dict[str, int]:
        if self.x + w > 24:
            self.newline()
        pos = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_height = max(self.row_height, h)
        return pos

    def newline(self) -> None:
        self.y += self.row_height
        self.x = 0
        self.row_height = 0


def _target(expr: str, ref: str, legend: str, instant: bool) -> dict[str, Any]:
    return {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "instant": instant,
        "legendFormat": legend,
        "range": not instant,
        "refId": ref,
    }


def _field_defaults(unit: str, steps: list[dict[str, Any]], *, decimals: int | None,
                    min_: float | None, max_: float | None, color_mode: str) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "color": {"mode": color_mode},
        "mappings": [],
        "noValue": "no data",
        "thresholds": {"mode": "absolute", "steps": steps},
        "unit": unit,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    return defaults


class Board:
    def __init__(self) -> None:
        self.layout = Layout()
        self.panels: list[dict[str, Any]] = []

    def row(self, title: str, repeat: str | None = None) -> None:
        self.layout.newline()
        panel: dict[str, Any] = {
            "collapsed": False,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.layout.y},
            "id": self.layout.take_id(),
            "panels": [],
            "title": title,
            "type": "row",
        }
        if repeat:
            panel["repeat"] = repeat
        self.panels.append(panel)
        self.layout.y += 1

    def stat(self, title: str, exprs: Sequence[tuple[str, str]] | str, *, unit: str, steps: list[dict[str, Any]],
             description: str, w: int = 4, h: int = 6, decimals: int | None = None,
             min_: float | None = None, max_: float | None = None, text_mode: str = "value_and_name",
             legend: str = "{{queue}}") -> None:
        if isinstance(exprs, str):
            exprs = [(exprs, legend)]
        self.panels.append({
            "datasource": DS,
            "description": description,
            "fieldConfig": {
                "defaults": _field_defaults(unit, steps, decimals=decimals, min_=min_, max_=max_,
                                            color_mode="thresholds"),
                "overrides": [],
            },
            "gridPos": self.layout.place(w, h),
            "id": self.layout.take_id(),
            "options": {
                "colorMode": "background",
                "graphMode": "none",
                "justifyMode": "center",
                "orientation": "auto",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "showPercentChange": False,
                "textMode": text_mode,
                "wideLayout": True,
            },
            "targets": [_target(expr, chr(ord("A") + i), leg, True) for i, (expr, leg) in enumerate(exprs)],
            "title": title,
            "type": "stat",
        })

    def timeseries(self, title: str, exprs: Sequence[tuple[str, str]] | str, *, unit: str, description: str,
                   steps: list[dict[str, Any]] | None = None, w: int = 12, h: int = 8,
                   min_: float | None = None, max_: float | None = None, decimals: int | None = None,
                   legend: str = "{{queue}}", stack: bool = False) -> None:
        if isinstance(exprs, str):
            exprs = [(exprs, legend)]
        defaults = _field_defaults(unit, steps or _steps((GREEN, None)), decimals=decimals, min_=min_, max_=max_,
                                   color_mode="palette-classic")
        defaults["custom"] = {
            "drawStyle": "line",
            "fillOpacity": 10,
            "lineWidth": 2,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if stack else "none"},
            "thresholdsStyle": {"mode": "dashed" if steps else "off"},
        }
        self.panels.append({
            "datasource": DS,
            "description": description,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "gridPos": self.layout.place(w, h),
            "id": self.layout.take_id(),
            "options": {
                "legend": {"calcs": ["lastNotNull"], "displayMode": "table", "placement": "right", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"},
            },
            "targets": [_target(expr, chr(ord("A") + i), leg, False) for i, (expr, leg) in enumerate(exprs)],
            "title": title,
            "type": "timeseries",
        })

    def bars(self, title: str, expr: str, *, unit: str, description: str, legend: str, w: int = 12,
             h: int = 8) -> None:
        self.panels.append({
            "datasource": DS,
            "description": description,
            "fieldConfig": {
                "defaults": {**_field_defaults(unit, _steps((BLUE, None)), decimals=0, min_=0, max_=None,
                                               color_mode="fixed"), "color": {"fixedColor": BLUE, "mode": "fixed"}},
                "overrides": [],
            },
            "gridPos": self.layout.place(w, h),
            "id": self.layout.take_id(),
            "options": {
                "displayMode": "basic",
                "orientation": "horizontal",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "showUnfilled": True,
            },
            "targets": [_target(expr, "A", legend, True)],
            "title": title,
            "type": "bargauge",
        })


def query_variable(name: str, label: str, metric: str, *, depends: Sequence[str] = ()) -> dict[str, Any]:
    selector = metric
    if depends:
        selector = metric + "{" + ", ".join(f'{dep}=~"${dep}"' for dep in depends) + "}"
    definition = f"label_values({selector}, {name})"
    return {
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": DS,
        "definition": definition,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": {"qryType": 1, "query": definition, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "type": "query",
    }


def custom_variable(name: str, label: str, values: Sequence[str], default: str) -> dict[str, Any]:
    return {
        "current": {"selected": True, "text": default, "value": default},
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [{"selected": value == default, "text": value, "value": value} for value in values],
        "query": ",".join(values),
        "type": "custom",
    }


def dashboard(uid: str, title: str, description: str, board: Board, variables: list[dict[str, Any]], *,
              refresh: str = "10s", time_from: str = "now-3h") -> dict[str, Any]:
    return {
        "annotations": {"list": [{
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }]},
        "description": description,
        "editable": False,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [{
            "asDropdown": False,
            "icon": "dashboard",
            "includeVars": False,
            "keepTime": True,
            "tags": ["cxpulse"],
            "targetBlank": False,
            "title": "cxpulse",
            "type": "dashboards",
        }],
        "panels": board.panels,
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["cxpulse"],
        "templating": {"list": variables},
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def _scope(by: tuple[str, ...], *variables: str) -> Scope:
    return Scope(by, tuple(f'{name}=~"${name}"' for name in variables))


# --------------------------------------------------------------------------- dashboards


def wall(settings: Settings) -> dict[str, Any]:
    t = settings.thresholds
    w = "$window"
    per_queue = _scope(("queue",), "queue", "channel")
    overall = _scope((), "queue", "channel")
    b = Board()

    def tiles(scope: Scope, legend: str, h: int) -> None:
        b.stat("Calls waiting", q.calls_waiting(scope), unit="none", decimals=0, steps=threshold_steps(t.calls_waiting),
               description=_describe(t.calls_waiting, "Calls in queue right now."), legend=legend, h=h,
               text_mode="value")
        b.stat("Longest wait", q.call_longest_wait(scope), unit="s", decimals=0,
               steps=threshold_steps(t.longest_wait_seconds), legend=legend, h=h, text_mode="value",
               description=_describe(t.longest_wait_seconds, "Wait of the oldest call still in queue.", "{:g} s"))
        b.stat("Abandon rate ($window)", q.call_abandon_ratio(settings, scope, w), unit="percentunit", decimals=1,
               steps=threshold_steps(t.abandon_rate), legend=legend, h=h, text_mode="value", min_=0, max_=1,
               description=_describe(t.abandon_rate, "Abandoned / offered calls, short abandons "
                                     f"{'excluded' if settings.abandon_rate_mode.value == 'exclude_short' else 'included'}."
                                     " The page also needs a spike over the queue's 1h baseline and "
                                     f"{t.abandon_min_offered} calls offered.", "{:.0%}"))
        b.stat("Service level ($window)", q.call_service_level_ratio(settings, scope, w), unit="percentunit",
               decimals=1, steps=threshold_steps(t.service_level), legend=legend, h=h, text_mode="value",
               min_=0, max_=1,
               description=_describe(t.service_level, f"Answered within T ({settings.service_level_mode.value}).",
                                     "{:.0%}"))
        b.stat("ASA ($window)", q.call_asa_seconds(scope, w), unit="s", decimals=0,
               steps=threshold_steps(t.asa_seconds), legend=legend, h=h, text_mode="value",
               description=_describe(t.asa_seconds, "Average speed of answer.", "{:g} s"))
        b.stat("AHT ($window)", q.call_aht_seconds(settings, scope, w), unit="s", decimals=0,
               steps=threshold_steps(t.aht_seconds), legend=legend, h=h, text_mode="value",
               description=_describe(t.aht_seconds, "Average handle time: " + " + ".join(settings.aht_components)
                                     + " over handled calls.", "{:g} s"))

    b.row("All selected queues")
    tiles(overall, "all", 4)
    b.row("Queue $queue", repeat="queue")
    tiles(_scope(("queue",), "queue", "channel"), "{{queue}}", 7)

    b.row("Trends (5m windows)")
    b.timeseries("Abandon rate", q.call_abandon_ratio(settings, per_queue, "5m"), unit="percentunit", min_=0,
                 steps=threshold_steps(t.abandon_rate), description="5-minute abandon rate per queue; dashed lines "
                 "are the warning and critical levels.")
    b.timeseries("Service level", q.call_service_level_ratio(settings, per_queue, "5m"), unit="percentunit",
                 min_=0, max_=1, steps=threshold_steps(t.service_level),
                 description="5-minute service level per queue.")
    b.timeseries("Calls waiting", q.calls_waiting(per_queue), unit="none", min_=0,
                 steps=threshold_steps(t.calls_waiting), description="Calls in queue per queue.")
    b.timeseries("Longest wait", q.call_longest_wait(per_queue), unit="s", min_=0,
                 steps=threshold_steps(t.longest_wait_seconds), description="Oldest call in queue per queue.")
    b.timeseries("Offered / answered / abandoned per minute", [
        (f"60 * {per_queue.sum_rate('cx_calls_offered_total', '5m')}", "{{queue}} offered"),
        (f"60 * {per_queue.sum_rate('cx_calls_answered_total', '5m')}", "{{queue}} answered"),
        (f"60 * {per_queue.sum_rate('cx_calls_abandoned_total', '5m')}", "{{queue}} abandoned"),
    ], unit="none", min_=0, description="Call flow per queue (5-minute rates, per minute).")
    b.timeseries("ASA and AHT", [
        (q.call_asa_seconds(per_queue, "5m"), "{{queue}} ASA"),
        (q.call_aht_seconds(settings, per_queue, "5m"), "{{queue}} AHT"),
    ], unit="s", min_=0, description="Average speed of answer and average handle time (5-minute windows).")
    b.timeseries("Transfer rate and FCR (agent flag)", [
        (q.call_transfer_ratio(per_queue, "15m"), "{{queue}} transferred"),
        (q.call_fcr_ratio(per_queue, "15m"), "{{queue}} FCR"),
    ], unit="percentunit", min_=0, max_=1, steps=threshold_steps(t.fcr),
        description=_describe(t.fcr, "Share of handled calls transferred, and first-contact resolution as "
                              "flagged by agents (15-minute windows); thresholds are FCR's.", "{:.0%}"))
    return dashboard(
        "cxpulse-wall", "cxpulse · Contact-centre wall",
        "Live call KPIs per queue; colours from Settings.thresholds, the same levels the alerts use.",
        b,
        [
            query_variable("queue", "Queue", "cx_calls_offered_total"),
            query_variable("channel", "Channel", "cx_calls_offered_total", depends=["queue"]),
            custom_variable("window", "Window", ["5m", "15m", "1h"], "15m"),
        ],
        refresh="5s", time_from="now-1h",
    )


def surveys(settings: Settings) -> dict[str, Any]:
    t = settings.thresholds
    w = "$window"
    per_queue = _scope(("queue",), "queue", "channel", "touchpoint")
    sample_steps = _steps((RED, None), (GREEN, settings.survey_min_sample))
    sample_text = (f"Answers in the window; red below survey_min_sample ({settings.survey_min_sample}), where the "
                   "figure is not meaningful and no survey alert fires.")
    b = Board()
    b.row("NPS")
    b.stat("NPS ($window)", q.nps_score(per_queue, w), unit="none", decimals=0, min_=-100, max_=100,
           steps=threshold_steps(t.nps), w=8,
           description=_describe(t.nps, "100 × (promoters − detractors) / answers, summed over channels."))
    b.stat("NPS answers ($window)", q.nps_responses(per_queue, w), unit="none", decimals=0, steps=sample_steps, w=8,
           description=sample_text)
    b.stat("NPS over the last answers", 'cx_nps_score_last_n{queue=~"$queue", channel=~"$channel", touchpoint=~"$touchpoint"}', unit="none", decimals=0,
           min_=-100, max_=100, steps=threshold_steps(t.nps), w=8, legend="{{queue}} {{channel}} {{touchpoint}}",
           description=_describe(t.nps, f"NPS over the last {settings.nps_last_n} answers of each segment "
                                 "(cx_nps_score_last_n), whatever their age."))
    b.timeseries("NPS trend ($window rolling)", q.nps_score(per_queue, w), unit="none", min_=-100, max_=100,
                 steps=threshold_steps(t.nps), description="Rolling NPS per queue.")
    b.timeseries("NPS answers ($window rolling)", q.nps_responses(per_queue, w), unit="none", min_=0,
                 steps=sample_steps, description=sample_text)
    b.row("CSAT")
    b.stat("CSAT ($window)", q.csat_ratio(per_queue, w), unit="percentunit", decimals=1, min_=0, max_=1,
           steps=threshold_steps(t.csat), w=8,
           description=_describe(t.csat, "Satisfied answers (top-two-box by default) / CSAT answers.", "{:.0%}"))
    b.stat("CSAT mean score ($window)", q.csat_mean_score(per_queue, w), unit="none", decimals=2, min_=1, max_=5,
           steps=_steps((BLUE, None)), w=8, description="Mean CSAT score, normalised to 1–5.")
    b.stat("CSAT answers ($window)", q.survey_responses(per_queue, w, "csat"), unit="none", decimals=0,
           steps=sample_steps, w=8, description=sample_text)
    b.timeseries("CSAT trend ($window rolling)", q.csat_ratio(per_queue, w), unit="percentunit", min_=0, max_=1,
                 steps=threshold_steps(t.csat), description="Rolling CSAT per queue.")
    b.timeseries("CSAT answers ($window rolling)", q.survey_responses(per_queue, w, "csat"), unit="none", min_=0,
                 steps=sample_steps, description=sample_text)
    b.row("CES")
    b.stat("CES easy ($window)", q.ces_easy_ratio(per_queue, w), unit="percentunit", decimals=1, min_=0, max_=1,
           steps=threshold_steps(t.ces_easy_rate), w=8,
           description=_describe(t.ces_easy_rate, f"Answers at or above {settings.ces_easy_threshold:g} on the "
                                 "normalised 1–7 scale (easy) / CES answers.", "{:.0%}"))
    b.stat("CES mean score ($window)", q.ces_mean_score(per_queue, w), unit="none", decimals=2, min_=1, max_=7,
           steps=_steps((BLUE, None)), w=8, description="Mean CES score, normalised to 1–7 (higher = easier).")
    b.stat("CES answers ($window)", q.survey_responses(per_queue, w, "ces"), unit="none", decimals=0,
           steps=sample_steps, w=8, description=sample_text)
    b.timeseries("CES easy trend ($window rolling)", q.ces_easy_ratio(per_queue, w), unit="percentunit", min_=0,
                 max_=1, steps=threshold_steps(t.ces_easy_rate), description="Rolling CES easy share per queue.")
    b.timeseries("Response rate by survey type ($window rolling)",
                 q.survey_response_ratio(_scope(("survey_type",), "queue", "channel", "touchpoint"), w),
                 unit="percentunit", min_=0, max_=1, legend="{{survey_type}}",
                 description="Survey answers / surveys sent, per survey type.")
    return dashboard(
        "cxpulse-surveys", "cxpulse · Surveys (NPS, CSAT, CES)",
        "Survey KPIs from summed counters, always shown with their sample counts.",
        b,
        [
            query_variable("queue", "Queue", "cx_nps_promoters_total"),
            query_variable("channel", "Channel", "cx_nps_promoters_total", depends=["queue"]),
            query_variable("touchpoint", "Touchpoint", "cx_nps_promoters_total", depends=["queue", "channel"]),
            custom_variable("window", "Window", ["1h", "24h", "7d", "30d"], "24h"),
        ],
        refresh="1m", time_from="now-24h",
    )


def tickets_carts(settings: Settings) -> dict[str, Any]:
    t = settings.thresholds
    w = "$window"
    per_queue = _scope(("queue",), "queue", "channel")
    carts = _scope(("channel",), "cart_channel")
    b = Board()
    b.row("Tickets")
    b.stat("Open tickets", q.tickets_open(per_queue), unit="none", decimals=0, steps=threshold_steps(t.ticket_backlog),
           description=_describe(t.ticket_backlog, "Tickets created and not yet resolved."))
    b.stat("Oldest open ticket", q.ticket_oldest_open_age(per_queue), unit="s", decimals=0,
           steps=threshold_steps(t.ticket_ttr_seconds),
           description=_describe(t.ticket_ttr_seconds, "Age of the oldest open ticket; coloured with the TTR "
                                 "levels.", "{:g} s"))
    b.stat("Mean time to resolution ($window)", q.ticket_ttr_seconds(settings, per_queue, w), unit="s", decimals=0,
           steps=threshold_steps(t.ticket_ttr_seconds),
           description=_describe(t.ticket_ttr_seconds, f"Resolution seconds / {settings.ttr_denominator} tickets.",
                                 "{:g} s"))
    b.stat("Mean first response ($window)", q.ticket_frt_seconds(per_queue, w), unit="s", decimals=0,
           steps=_steps((BLUE, None)), description="Mean time to first response.")
    b.stat("Reopened ($window)", q.ticket_reopen_ratio(per_queue, w), unit="percentunit", decimals=1, min_=0,
           max_=1, steps=_steps((BLUE, None)), description="Reopened / resolved tickets.")
    b.stat("Ticket FCR ($window)", q.ticket_fcr_ratio(per_queue, w), unit="percentunit", decimals=1, min_=0,
           max_=1, steps=threshold_steps(t.fcr),
           description=_describe(t.fcr, "Resolved with one contact / resolved.", "{:.0%}"))
    b.timeseries("Created vs resolved per hour", [
        (per_queue.sum_increase("cx_tickets_created_total", "1h"), "{{queue}} created"),
        (per_queue.sum_increase("cx_tickets_resolved_total", "1h"), "{{queue}} resolved"),
    ], unit="none", min_=0, description="Tickets created and resolved over the last hour: a backlog grows while "
       "created stays above resolved (TicketBacklogGrowing).")
    b.timeseries("Open tickets", q.tickets_open(per_queue), unit="none", min_=0,
                 steps=threshold_steps(t.ticket_backlog), description="Open tickets per queue.")
    b.timeseries("Resolution time p50 / p90 ($window, per segment)", [
        ('cx_ticket_ttr_seconds{stat="p50", window="$window", queue=~"$queue", channel=~"$channel"}',
         "{{queue}} {{channel}} p50"),
        ('cx_ticket_ttr_seconds{stat="p90", window="$window", queue=~"$queue", channel=~"$channel"}',
         "{{queue}} {{channel}} p90"),
    ], unit="s", min_=0, steps=threshold_steps(t.ticket_ttr_seconds),
        description="Percentiles from the exporter's windowed gauges (percentiles cannot be summed across "
                    "segments, so each queue and channel is its own line).")
    b.timeseries("Escalation and reopen rates ($window rolling)", [
        (q.ticket_escalation_ratio(per_queue, w), "{{queue}} escalated"),
        (q.ticket_reopen_ratio(per_queue, w), "{{queue}} reopened"),
    ], unit="percentunit", min_=0, max_=1, description="Escalated / created and reopened / resolved tickets.")
    b.bars("Top categories ($window)",
           'sum by (category) (cx_tickets_by_category{window="$window", queue=~"$queue", channel=~"$channel"})',
           unit="none", legend="{{category}}", w=24, h=7,
           description="Tickets by category (the exporter keeps the top categories only).")
    b.row("Carts")
    b.stat("Cart abandonment ($window)", q.cart_abandonment_ratio(carts, w), unit="percentunit", decimals=1,
           min_=0, max_=1, steps=threshold_steps(t.cart_abandonment_rate), legend="{{channel}}", w=6,
           description=_describe(t.cart_abandonment_rate, "Carts abandoned (explicitly or after the inactivity "
                                 f"timeout of {settings.cart_abandon_timeout_seconds:g} s) / carts created.",
                                 "{:.0%}"))
    b.stat("Checkout completion ($window)", q.cart_completion_ratio(carts, w), unit="percentunit", decimals=1,
           min_=0, max_=1, steps=_steps((BLUE, None)), legend="{{channel}}", w=6,
           description="Completed checkouts / carts created.")
    b.stat("Open carts", _scope(("channel",), "cart_channel").agg("sum", carts.selector("cx_carts_open")),
           unit="none", decimals=0, steps=_steps((BLUE, None)), legend="{{channel}}", w=6,
           description="Carts with activity and no checkout or abandonment yet.")
    b.stat("Average order value ($window)",
           q.cart_average_order_value(_scope(("currency",), "cart_channel"), w), unit="none", decimals=2,
           steps=_steps((BLUE, None)), legend="{{currency}}", w=6,
           description="Revenue / completed orders, per currency (currencies are never added).")
    b.timeseries("Carts per minute", [
        (f"60 * {carts.sum_rate('cx_carts_created_total', '5m')}", "{{channel}} created"),
        (f"60 * {carts.sum_rate('cx_checkouts_completed_total', '5m')}", "{{channel}} completed"),
        (f"60 * {carts.sum_rate('cx_carts_abandoned_total', '5m')}", "{{channel}} abandoned"),
    ], unit="none", min_=0, legend="{{channel}}", description="Cart flow (5-minute rates, per minute).")
    b.timeseries("Cart abandonment (15m)", q.cart_abandonment_ratio(carts, "15m"), unit="percentunit", min_=0,
                 max_=1, steps=threshold_steps(t.cart_abandonment_rate), legend="{{channel}}",
                 description="The window CartAbandonmentSpike pages on.")
    b.timeseries("Revenue per hour",
                 _scope(("currency",), "cart_channel").sum_increase("cx_cart_revenue_total", "1h"),
                 unit="none", min_=0, legend="{{currency}}", description="Revenue of completed orders over the "
                 "last hour, per currency.", w=24)
    return dashboard(
        "cxpulse-tickets-carts", "cxpulse · Tickets and carts",
        "Ticket backlog, resolution and response times; cart abandonment, checkouts and revenue.",
        b,
        [
            query_variable("queue", "Queue", "cx_tickets_created_total"),
            query_variable("channel", "Ticket channel", "cx_tickets_created_total", depends=["queue"]),
            query_variable("cart_channel", "Cart channel", "cx_carts_created_total"),
            custom_variable("window", "Window", ["1h", "24h", "7d"], "24h"),
        ],
        refresh="30s", time_from="now-24h",
    )


def pipeline(settings: Settings, job: str = q.EXPORTER_JOB) -> dict[str, Any]:
    t = settings.thresholds
    topic = Scope(("topic",))
    b = Board()
    b.row("Health")
    b.stat("Workers alive", "max(cx_pipeline_workers_alive)", unit="none", decimals=0,
           steps=_steps((RED, None), (GREEN, 1)), legend="workers", text_mode="value",
           description="Worker processes with a heartbeat in the last 10 s (WorkerDown at 0).")
    b.stat("Exporter up", f'min(up{{job="{job}"}})', unit="none", decimals=0,
           steps=_steps((RED, None), (GREEN, 1)), legend="exporter", text_mode="value",
           description="1 when Prometheus scraped the exporter (ExporterDown at 0).")
    b.stat("Redis up", "min(cx_exporter_redis_up)", unit="none", decimals=0,
           steps=_steps((RED, None), (GREEN, 1)), legend="redis", text_mode="value",
           description="1 when the exporter's last Redis read succeeded (RedisUnreachable at 0).")
    b.stat("Newest event age", "time() - max(cx_pipeline_last_event_timestamp_seconds)", unit="s", decimals=0,
           steps=_steps((GREEN, None), (AMBER, t.pipeline_stale_seconds / 2), (RED, t.pipeline_stale_seconds)),
           legend="age", text_mode="value",
           description=f"Now minus the event time of the newest event folded; PipelineStalled past "
                       f"{t.pipeline_stale_seconds:g} s.")
    b.stat("Worker heartbeat age", "time() - max(cx_pipeline_worker_last_heartbeat_timestamp_seconds)", unit="s",
           decimals=0, steps=_steps((GREEN, None), (RED, 10)), legend="heartbeat", text_mode="value",
           description="Seconds since the newest worker heartbeat (a worker counts as alive within 10 s).")
    b.stat("Dead letters / min", f"60 * sum({q.dead_letter_rate(topic, '5m')})", unit="none", decimals=1,
           steps=_steps((GREEN, None), (RED, t.dead_letters_per_minute)), legend="dead letters", text_mode="value",
           description=f"Invalid and late events per minute over 5m; DeadLettersRising past "
                       f"{t.dead_letters_per_minute:g}/min on a topic.")
    b.row("Throughput and lag")
    b.timeseries("Events processed / s", topic.sum_rate("cx_pipeline_events_processed_total", "1m"), unit="none",
                 min_=0, legend="{{topic}}", description="Events folded into Redis per second, per topic.")
    b.timeseries("Events processed / s per partition",
                 "sum by (topic, partition) (rate(cx_pipeline_partition_events_processed_total[1m]))", unit="none",
                 min_=0, legend="{{topic}} #{{partition}}",
                 description="The same per source partition: one at 0 while its topic's others move is stuck "
                             "(or only its producers stopped); a topic's total hides it.")
    b.timeseries("Newest event age per topic", "time() - cx_pipeline_last_event_timestamp_seconds", unit="s", min_=0,
                 legend="{{topic}}", steps=_steps((GREEN, None), (RED, t.pipeline_stale_seconds)),
                 description="Now minus the newest event time folded per topic (a quiet topic grows here "
                             "without being stalled).")
    b.timeseries("Since last stored batch", "time() - cx_pipeline_last_processed_timestamp_seconds", unit="s",
                 min_=0, legend="{{topic}}", description="Seconds since a worker last stored a batch, per topic.")
    b.timeseries("Duplicates and replays / s", [
        (topic.sum_rate("cx_pipeline_events_duplicate_total", "5m"), "{{topic}} duplicate"),
        (topic.sum_rate("cx_pipeline_events_replayed_total", "5m"), "{{topic}} replayed"),
    ], unit="none", min_=0, description="Events dropped as already counted: duplicates (same event_id) and "
       "redeliveries after a restart.")
    b.row("Dead letters")
    b.timeseries("Dead letters / min per topic", f"60 * {q.dead_letter_rate(topic, '5m')}", unit="none", min_=0,
                 legend="{{topic}}", steps=_steps((GREEN, None), (RED, t.dead_letters_per_minute)),
                 description="Invalid plus late events per minute (5-minute rates).")
    b.timeseries("Invalid events / min by reason", [
        ("60 * sum by (topic, reason) (rate(cx_pipeline_events_invalid_total[5m]))", "{{topic}} {{reason}}"),
        ("60 * sum by (topic) (rate(cx_pipeline_events_late_total[5m]))", "{{topic}} late"),
    ], unit="none", min_=0, description="Why events were dead-lettered.")
    b.row("Exporter")
    b.timeseries("Snapshot duration", "max(cx_exporter_snapshot_duration_seconds)", unit="s", min_=0,
                 legend="snapshot", description="Time the exporter took to read Redis and compute a snapshot.")
    b.timeseries("Scrape duration", f'max(scrape_duration_seconds{{job="{job}"}})', unit="s", min_=0,
                 legend="scrape", description="Prometheus' own scrape duration of the exporter.")
    return dashboard(
        "cxpulse-pipeline", "cxpulse · Pipeline health",
        "Workers, event lag, throughput, dead letters and the exporter.",
        b, [], refresh="10s", time_from="now-1h",
    )


BUILDERS = {
    "cxpulse-wall.json": wall,
    "cxpulse-surveys.json": surveys,
    "cxpulse-tickets-carts.json": tickets_carts,
    "cxpulse-pipeline.json": pipeline,
}


def build_dashboards(settings: Settings) -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON model."""
    return {name: build(settings) for name, build in BUILDERS.items()}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main_dashboards(out: Path, settings: Settings) -> list[Path]:
    """Write every dashboard for ``settings`` into ``out`` (the ``cxpulse dashboards`` command)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in build_dashboards(settings).items():
        path = out / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- reading back


def iter_panels(panels: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def dashboard_expressions(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every ``label_values`` variable's metric."""
    for panel in iter_panels(document.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield f"{document['uid']} / {panel['title']} / {target['refId']}", target["expr"]
    for variable in document.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            definition = variable["definition"]
            inner = definition[len("label_values("):definition.rindex(",")]
            yield f"{document['uid']} / variable {variable['name']}", inner


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cxpulse.dashboards", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DASHBOARDS_DIR)
    parser.add_argument("--defaults", action="store_true", help="Ignore CXPULSE_* variables (the committed files)")
    args = parser.parse_args(argv)
    from cxpulse.settings import load_settings

    for path in main_dashboards(args.out, q.default_settings() if args.defaults else load_settings()):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
