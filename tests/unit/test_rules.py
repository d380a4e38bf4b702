"""The generated Prometheus rules, their promtool unit tests and the Alertmanager config.

* the committed ``ops/prometheus/rules.yml`` is exactly what ``cxpulse/rules.py``
  generates from the default ``Settings`` (nobody hand-edits a threshold);
* naming and annotation conventions hold for every rule;
* every metric a rule reads is in the metrics contract;
* no alert fires on a one-minute blip: its ``for:`` outlasts its shortest window by 1m;
* alerts compare with a threshold the way ``Threshold.state`` (the wall) does;
* ``promtool check rules`` / ``check config`` / ``test rules`` (the firing and quiet
  cases in ``ops/prometheus/tests``) and ``amtool check-config`` pass, the routing
  tree sends critical alerts to on-call and warnings to the supervisors, and a real
  Alertmanager puts each queue, channel and topic in its own notification group.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from cxpulse import rules
from cxpulse.rules import RuleOptions, RuleWindows, build_rules, default_settings, render_rules
from cxpulse.settings import AbandonRateMode, ServiceLevelMode, Settings, Threshold, Thresholds
from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "ops/prometheus/rules.yml"
PROMTOOL_TESTS = sorted((ROOT / "ops/prometheus/tests").glob("*.yml"))
ALERTMANAGER_FILE = ROOT / "ops/alertmanager/alertmanager.yml"
RUNBOOK = ROOT / "docs/alerting.md"
CONTRACT = ROOT / "docs/metrics-contract.md"

RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")
CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]+$")


def _document() -> dict:
    return yaml.safe_load(RULES_FILE.read_text())


def _all_rules(document: dict) -> list[dict]:
    return [rule for group in document["groups"] for rule in group["rules"]]


def contract_metrics() -> set[str]:
    return set(re.findall(r"`(cx_[a-z0-9_]+)", CONTRACT.read_text()))


def metrics_read(expr: str) -> set[str]:
    """``cx_*`` metric names read by an expression (recording-rule names removed first)."""
    without_records = re.sub(r"\b[a-z_]*:[a-z0-9_:]+", " ", expr)
    return set(re.findall(r"\b(cx_[a-z0-9_]+)\b", without_records))


# --------------------------------------------------------------------------- generated file


def test_committed_rules_equal_the_generated_ones() -> None:
    expected = render_rules(default_settings())
    assert RULES_FILE.read_text() == expected, (
        "ops/prometheus/rules.yml differs from the generator: do not edit it by hand; run "
        "`cxpulse rules --out ops/prometheus/rules.yml` (or `python -m cxpulse.rules --defaults`)"
    )


def test_main_rules_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "rules.yml"
    rules.main_rules(out, default_settings())
    assert out.read_text() == RULES_FILE.read_text()


def test_every_alert_has_severity_layer_summary_description_and_runbook() -> None:
    runbook = RUNBOOK.read_text()
    headings = {line[4:].strip().lower() for line in runbook.splitlines() if line.startswith("### ")}
    alerts = [rule for rule in _all_rules(_document()) if "alert" in rule]
    assert {a["alert"] for a in alerts} >= {
        "AbandonRateSpike", "ServiceLevelBreach", "LongestWaitHigh", "NPSDrop", "CSATLow", "TicketBacklogGrowing",
        "CartAbandonmentSpike", "PipelineStalled", "DeadLettersRising", "ExporterDown", "WorkerDown",
    }
    for alert in alerts:
        name = alert["alert"]
        assert CAMEL.match(name), name
        assert alert["labels"]["severity"] in ("critical", "warning"), name
        assert alert["labels"]["layer"] in ("kpi", "pipeline"), name
        assert alert.get("for"), f"{name} has no for: (blips would page)"
        notes = alert["annotations"]
        assert notes["summary"].strip() and notes["description"].strip(), name
        assert notes["runbook_url"] == f"docs/alerting.md#{name.lower()}", name
        assert name.lower() in headings, f"docs/alerting.md has no '### {name}' runbook section"


def test_recording_rules_follow_level_metric_operations() -> None:
    records = [rule["record"] for rule in _all_rules(_document()) if "record" in rule]
    assert len(records) == len(set(records))
    for name in records:
        assert RECORD_NAME.match(name), name
    assert {"queue:cx_call_abandon:ratio_rate5m", "queue:cx_call_abandon:ratio_rate1h",
            "queue:cx_call_service_level:ratio_rate5m", "queue:cx_calls_offered:increase5m"} <= set(records)


def test_rules_read_only_contract_metrics() -> None:
    contract = contract_metrics()
    assert "cx_calls_offered_total" in contract and "cx_nps_promoters_total" in contract
    for _, name, expr in rules.rule_expressions(_document()):
        unknown = metrics_read(expr) - contract
        assert not unknown, f"{name} reads metrics missing from docs/metrics-contract.md: {unknown}"


def test_ratios_sum_numerators_and_denominators() -> None:
    expr = {rule.get("record"): rule["expr"] for rule in _all_rules(_document())}
    abandon = expr["queue:cx_call_abandon:ratio_rate5m"]
    assert "cx_call_abandon_ratio" not in abandon  # never the exporter's per-segment ratio gauge
    assert "avg" not in abandon
    assert "sum by (queue) (rate(cx_calls_abandoned_total[5m]))" in abandon
    assert "sum by (queue) (rate(cx_calls_short_abandoned_total[5m]))" in abandon


# --------------------------------------------------------------------------- settings flow through


def _custom(**kwargs: object) -> Settings:
    base = default_settings().model_dump()
    base.update(kwargs)
    return Settings(_env_prefix="CXPULSE_IGNORED_FOR_DEFAULTS_", **base)  # type: ignore[call-arg]


def _alert(document: dict, name: str) -> dict:
    return next(rule for rule in _all_rules(document) if rule.get("alert") == name)


def test_thresholds_come_from_settings() -> None:
    thresholds = Thresholds(
        abandon_rate=Threshold(warning=0.1, critical=0.25), abandon_min_offered=50, abandon_spike_factor=3.0,
        longest_wait_seconds=Threshold(warning=30, critical=45),
        service_level=Threshold(warning=0.9, critical=0.85, higher_is_worse=False),
    )
    document = build_rules(_custom(thresholds=thresholds.model_dump()))
    spike = _alert(document, "AbandonRateSpike")["expr"]
    assert ">= 0.25" in spike and "> 3 * queue:cx_call_abandon:ratio_rate1h" in spike and ">= 50" in spike
    assert ">= 45" in _alert(document, "LongestWaitHigh")["expr"]
    assert "<= 0.85" in _alert(document, "ServiceLevelBreach")["expr"]
    assert "25%" in _alert(document, "AbandonRateSpike")["annotations"]["description"]


def test_kpi_modes_come_from_settings() -> None:
    def record(settings: Settings, name: str) -> str:
        return next(r["expr"] for r in _all_rules(build_rules(settings)) if r.get("record") == name)

    include = record(_custom(abandon_rate_mode=AbandonRateMode.INCLUDE_SHORT), "queue:cx_call_abandon:ratio_rate5m")
    assert "short_abandoned" not in include
    ignored = record(_custom(service_level_mode=ServiceLevelMode.ABANDONS_IGNORED),
                     "queue:cx_call_service_level:ratio_rate5m")
    assert "abandoned" not in ignored
    positive = record(_custom(service_level_mode=ServiceLevelMode.ABANDONS_POSITIVE),
                      "queue:cx_call_service_level:ratio_rate5m")
    assert "cx_calls_abandoned_within_sl_total" in positive
    aht = record(_custom(aht_components=["talk", "hold"]), "queue:cx_call_handle_seconds:mean5m")
    assert "acw" not in aht and "talk" in aht


def test_options_shorten_windows_and_for_without_touching_production() -> None:
    options = RuleOptions(windows=RuleWindows(calls="30s", calls_baseline="10m"), for_cap="5s", interval="1s")
    document = build_rules(default_settings(), options)
    records = {r["record"] for r in _all_rules(document) if "record" in r}
    assert "queue:cx_call_abandon:ratio_rate30s" in records and "queue:cx_call_abandon:ratio_rate10m" in records
    spike = _alert(document, "AbandonRateSpike")
    assert spike["for"] == "5s"
    assert "queue:cx_call_abandon:ratio_rate10m" in spike["expr"]
    assert "queue:cx_call_abandon:ratio_rate6s" in spike["expr"]  # the short window: a fifth of 30s
    assert all(group["interval"] == "1s" for group in document["groups"])
    # production keeps its windows and for:
    production = _alert(_document(), "AbandonRateSpike")
    assert production["for"] == "2m" and "ratio_rate5m" in production["expr"] and "ratio_rate1m" in production["expr"]


# --------------------------------------------------------------------------- blips and levels

WINDOW = re.compile(r":[a-z_]*?(\d+(?:ms|s|m|h|d|w|y))\b|\[(\d+(?:ms|s|m|h|d|w|y))\]")
BLIP_SECONDS = 60

# Alerts that may keep a for: shorter than their window + 1m, and why (docs/alerting.md).
BLIP_EXEMPT = {
    # "no event processed over 5m" turns true only after 5 quiet minutes and one event
    # ends it: a blip of traffic cannot hold it; its other branch is an instant age.
    "PipelineStalled",
    # the 24h score is the KPI itself, as the wall shows it; answers arrive in batches
    # (survey exports), so a short window would be empty most of the time.
    "NPSDrop",
    "CSATLow",
}


def shortest_window(expr: str) -> float:
    """Seconds of the shortest window among the ``and``-ed terms; 0 if a term is instant.

    After a blip ends, an ``and`` of conditions is true only while *every* term is, so
    the term with the shortest window bounds how long a blip can keep it true.
    """
    shortest = float("inf")
    for term in re.split(r"\nand ", expr):
        windows = [rules.duration_seconds(a or b) for a, b in WINDOW.findall(term)]
        shortest = min(shortest, min(windows) if windows else 0.0)
    return shortest


def test_shortest_window_reads_records_ranges_and_instants() -> None:
    assert shortest_window("queue:x:ratio_rate5m >= 0.1\nand queue:x:ratio_rate1m >= 0.1") == 60
    assert shortest_window("sum(rate(cx_a_total[15m])) > 1\nand queue:y:increase1h >= 20") == 900
    assert shortest_window("queue:t:sum >= 100\nand on(queue) (\n  queue:c:increase1h > 0\n)") == 0


def test_every_alert_outlasts_a_one_minute_blip() -> None:
    """A blip of 1m keeps a condition over window W true for less than W + 1m; a ``for:``
    at least that long cannot fire on it (the promtool cases in blips.yml show it)."""
    violating = set()
    for alert in (rule for rule in _all_rules(_document()) if "alert" in rule):
        hold = rules.duration_seconds(alert["for"])
        if hold < shortest_window(alert["expr"]) + BLIP_SECONDS:
            violating.add(alert["alert"])
    assert violating == BLIP_EXEMPT, "for: shorter than the shortest window + 1m (a blip would page)"


# record prefix -> the Thresholds field it is compared with, for every alert on a wall KPI
LEVELS = {
    "queue:cx_call_abandon:ratio_rate": "abandon_rate",
    "queue:cx_call_service_level:ratio_rate": "service_level",
    "queue:cx_call_longest_wait_seconds:max": "longest_wait_seconds",
    "queue:cx_nps:score": "nps",
    "queue:cx_csat:ratio_rate": "csat",
    "queue:cx_tickets_open:sum": "ticket_backlog",
    "channel:cx_cart_abandonment:ratio_rate": "cart_abandonment_rate",
}
COMPARISON = re.compile(r"^(?:and )?([a-z_]+:[a-z0-9_]+:[a-z_]+?)(?:\d+[smhd])? (>=|<=|>|<) (-?[0-9.]+)$")


@pytest.mark.parametrize("flip", [False, True])
def test_alerts_compare_at_the_level_like_threshold_state(flip: bool) -> None:
    """At the critical level the wall says critical, so the alert condition holds there.

    Checked on the defaults and on thresholds with every direction flipped, so the
    operator follows ``higher_is_worse`` rather than being typed per alert.
    """
    settings = default_settings()
    if flip:
        dumped = settings.thresholds.model_dump()
        for name in LEVELS.values():
            dumped[name]["higher_is_worse"] = not dumped[name]["higher_is_worse"]
        settings = _custom(thresholds=dumped)
    thresholds = settings.thresholds
    seen = set()
    for alert in (rule for rule in _all_rules(build_rules(settings)) if "alert" in rule):
        for line in alert["expr"].splitlines():
            match = COMPARISON.match(line.strip())
            if not match or match.group(1) not in LEVELS:
                continue
            level: Threshold = getattr(thresholds, LEVELS[match.group(1)])
            op, value = match.group(2), float(match.group(3))
            assert value == level.critical, (alert["alert"], line)
            assert level.state(value) == "critical"
            assert op == (">=" if level.higher_is_worse else "<="), (alert["alert"], line)
            seen.add(LEVELS[match.group(1)])
    assert seen == set(LEVELS.values())


def test_durations() -> None:
    assert rules.duration_seconds("1h30m") == 5400
    assert rules.duration_seconds("90s") == 90
    assert rules.format_duration(120) == "2m"
    with pytest.raises(ValueError):
        rules.duration_seconds("5 minutes")


# --------------------------------------------------------------------------- promtool / amtool


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_promtool_check_rules_and_config() -> None:
    promtool = require_binary("promtool")
    result = _run([promtool, "check", "rules", str(RULES_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr
    result = _run([promtool, "check", "config", str(ROOT / "ops/prometheus/prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_documented_secured_scrape_config_is_valid(tmp_path: Path) -> None:
    """docs/alerting.md's scrape_config for an exporter with basic auth and TLS parses."""
    promtool = require_binary("promtool")
    section = RUNBOOK.read_text().split("## Scraping a secured exporter", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    [job] = yaml.safe_load(block)["scrape_configs"]
    assert job["job_name"] == rules.EXPORTER_JOB and job["scheme"] == "https"
    assert set(job["basic_auth"]) == {"username", "password_file"}  # never an inline password
    assert "ca_file" in job["tls_config"] and not job["tls_config"].get("insecure_skip_verify")
    config = tmp_path / "prometheus.yml"
    config.write_text(block)
    result = _run([promtool, "check", "config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_runbook_lists_every_dead_letter_reason() -> None:
    """DeadLettersRising counts every rejection reason; its runbook must name them all."""
    from streams.decode import REASONS

    section = RUNBOOK.read_text().split("### DeadLettersRising", 1)[1].split("- **How it is computed.**", 1)[0]
    named = set(re.findall(r"`([a-z0-9_]+)`", section))
    settings_and_metrics = {"topic", "max_clock_skew_seconds", "allowed_lateness_seconds",
                            "cx_pipeline_events_late_total", "event_id"}
    assert named - settings_and_metrics == set(REASONS)


def test_promtool_unit_tests_pass() -> None:
    promtool = require_binary("promtool")
    assert len(PROMTOOL_TESTS) >= 4
    result = _run([promtool, "test", "rules", *map(str, PROMTOOL_TESTS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_tests_cover_every_alert_firing() -> None:
    fired: set[str] = set()
    for path in PROMTOOL_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    fired.add(check["alertname"])
    alerts = {rule["alert"] for rule in _all_rules(_document()) if "alert" in rule}
    assert alerts - fired == set(), "alerts without a promtool case that makes them fire"


def test_amtool_check_config() -> None:
    amtool = require_binary("amtool")
    result = _run([amtool, "check-config", str(ALERTMANAGER_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=AbandonRateSpike", "queue=billing"], "oncall"),
        (["severity=critical", "alertname=WorkerDown"], "oncall"),
        (["severity=warning", "alertname=ServiceLevelBreach", "queue=sales"], "supervisors"),
        (["alertname=Unlabelled"], "supervisors"),
    ],
)
def test_alertmanager_routes_by_severity(labels: list[str], receiver: str) -> None:
    amtool = require_binary("amtool")
    result = _run([amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_FILE}", *labels])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_alertmanager_groups_and_inhibits_as_documented() -> None:
    config = yaml.safe_load(ALERTMANAGER_FILE.read_text())
    assert config["route"]["group_by"] == ["alertname", "queue", "channel", "topic"]
    inhibit = config["inhibit_rules"][0]
    sources = inhibit["source_matchers"][0]
    for name in ("PipelineStalled", "WorkerDown", "ExporterDown"):
        assert name in sources
    assert inhibit["target_matchers"] == ['layer="kpi"']
    document = _document()
    kpi = {r["alert"] for r in _all_rules(document) if "alert" in r and r["labels"]["layer"] == "kpi"}
    pipeline = {r["alert"] for r in _all_rules(document) if "alert" in r and r["labels"]["layer"] == "pipeline"}
    assert {"AbandonRateSpike", "ServiceLevelBreach", "CartAbandonmentSpike"} <= kpi
    assert {"PipelineStalled", "WorkerDown", "ExporterDown"} <= pipeline
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            assert hook["url"].split("/")[2].endswith(".invalid"), "placeholder URLs only in the repository"


def test_alertmanager_groups_each_queue_channel_and_topic_apart(tmp_path: Path) -> None:
    """A real Alertmanager with the production routing: one notification group per alert
    and queue (call alerts), channel (CartAbandonmentSpike) or topic (DeadLettersRising),
    so a cart spike on ``web`` and one on ``app`` page separately. amtool cannot show
    groups, hence the process; it starts in about a second."""
    from cxpulse.procs import ProcessSet
    from tests.integration.test_alerting import Alertmanager, Webhook, alertmanager_binary, am_config

    alertmanager_binary()
    alerts = [
        {"alertname": "AbandonRateSpike", "severity": "critical", "layer": "kpi", "queue": "billing"},
        {"alertname": "AbandonRateSpike", "severity": "critical", "layer": "kpi", "queue": "sales"},
        {"alertname": "CartAbandonmentSpike", "severity": "critical", "layer": "kpi", "channel": "web"},
        {"alertname": "CartAbandonmentSpike", "severity": "critical", "layer": "kpi", "channel": "app"},
        {"alertname": "DeadLettersRising", "severity": "warning", "layer": "pipeline", "topic": "cx.calls"},
        {"alertname": "DeadLettersRising", "severity": "warning", "layer": "pipeline", "topic": "cx.carts"},
    ]
    hook = Webhook()
    procs = ProcessSet()
    try:
        with procs.guard():
            manager = Alertmanager(procs, tmp_path / "alertmanager", am_config(hook))
            manager.post([{"labels": labels} for labels in alerts])
            deadline = time.monotonic() + 20
            groups: list[dict] = []
            while time.monotonic() < deadline:
                with urllib.request.urlopen(manager.url + "/api/v2/alerts/groups", timeout=5) as response:
                    groups = json.load(response)
                if sum(len(group["alerts"]) for group in groups) == len(alerts):
                    break
                time.sleep(0.2)
    finally:
        hook.close()
    grouped = sorted((group["receiver"]["name"], tuple(sorted(group["labels"].items())), len(group["alerts"]))
                     for group in groups)
    expected = sorted(
        ("oncall" if labels["severity"] == "critical" else "supervisors",
         tuple(sorted((k, v) for k, v in labels.items() if k in ("alertname", "queue", "channel", "topic"))), 1)
        for labels in alerts
    )
    assert grouped == expected
