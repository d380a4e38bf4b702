"""Every PromQL expression of the rules and the dashboards, run on a real Prometheus.

Broker, Redis, worker and exporter run as in production (``LocalStack``), with
simulated traffic and a few invalid events (so dead letters exist); a real
``prometheus`` (Debian package) scrapes the exporter every second and evaluates the
committed ``ops/prometheus/rules.yml`` every second. Then every expression is sent to
``/api/v1/query``:

* each recording rule and each dashboard query (template variables expanded: query
  variables to ``.*``, custom ones to their default) must parse and return data;
* each alert expression must parse; as an alert is *meant* to be empty while nothing is
  wrong, it is also run with every comparison turned into ``bool`` (``a > 0.1`` ->
  ``a > bool 0.1``), which must return data: so every series it compares exists;
* Prometheus must report every rule healthy (no evaluation error such as a
  many-to-many match, which a parse check cannot see).

Failures list the expressions, so a metric renamed in the exporter shows up here.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest
import yaml

from cxpulse.dashboards import dashboard_expressions
from cxpulse.procs import ManagedProcess, ProcessSet, free_port, http_ok, wait_until
from cxpulse.rules import rule_expressions
from cxpulse.settings import load_settings
from cxpulse.stack import LocalStack
from tests.conftest import require_binary

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "ops/prometheus/rules.yml"
DASHBOARD_DIR = ROOT / "ops/grafana/dashboards"
DATA_TIMEOUT = 240.0  # seconds of traffic within which every expression must have data


# --------------------------------------------------------------------------- Prometheus helpers


class Prometheus:
    """A ``prometheus`` child on a free loopback port, with its HTTP API."""

    def __init__(self, procs: ProcessSet, workdir: Path, *, exporter: str, rule_files: list[Path],
                 alertmanager: str | None = None, interval: str = "1s") -> None:
        binary = require_binary("prometheus")
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{"job_name": "cxpulse", "static_configs": [{"targets": [exporter]}]}],
        }
        if alertmanager:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.proc = procs.add(ManagedProcess(
            "prometheus",
            [binary, f"--config.file={config_path}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
             "--rules.alert.resend-delay=1s", "--storage.tsdb.retention.time=1d"],
            workdir / "prometheus.log",
        ))
        wait_until(lambda: http_ok(self.url + "/-/ready"), 60, "prometheus ready", self.proc, interval=0.2)

    def api(self, path: str, **params: str) -> dict[str, Any]:
        data = urllib.parse.urlencode(params).encode() if params else None
        request = urllib.request.Request(self.url + path, data=data)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 400/422 carry the error as JSON
            return json.loads(exc.read() or b'{"status": "error", "error": "empty"}')

    def query(self, expr: str) -> dict[str, Any]:
        return self.api("/api/v1/query", query=expr)


def boolify(expr: str) -> str:
    """Add ``bool`` to every comparison outside label matchers and strings."""
    out: list[str] = []
    depth = 0
    quote: str | None = None
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            out.append(ch)
            if ch == "\\":
                out.append(expr[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in "\"'`":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if depth == 0 and not quote:
            match = re.match(r"==|!=|>=|<=|>|<", expr[i:])
            if match:
                op = match.group(0)
                rest = expr[i + len(op):]
                out.append(op if re.match(r"\s*bool\b", rest) else op + " bool")
                i += len(op)
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def expand_variables(expr: str, document: dict[str, Any]) -> str:
    values: dict[str, str] = {}
    for variable in document.get("templating", {}).get("list", []):
        if variable["type"] == "query":
            values[variable["name"]] = variable.get("allValue") or ".*"
        else:
            values[variable["name"]] = str(variable["current"]["value"])

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise AssertionError(f"unknown template variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$(\w+)", replace, expr)


def expressions_to_check() -> list[tuple[str, str, bool]]:
    """(where, expr, must_return_data) for the rules file and every dashboard."""
    out: list[tuple[str, str, bool]] = []
    for kind, name, expr in rule_expressions(yaml.safe_load(RULES_FILE.read_text())):
        if kind == "record":
            out.append((f"record {name}", expr, True))
        else:
            out.append((f"alert {name} (as written)", expr, False))
            out.append((f"alert {name} (comparisons as bool)", boolify(expr), True))
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        document = json.loads(path.read_text())
        for where, expr in dashboard_expressions(document):
            out.append((f"dashboard {where}", expand_variables(expr, document), True))
    return out


def check_expressions(prom: Prometheus, checks: list[tuple[str, str, bool]], deadline: float) -> list[str]:
    """Query until every expression has data or ``deadline``; the failures, described."""
    pending = list(checks)
    failures: dict[str, str] = {}
    while True:
        still: list[tuple[str, str, bool]] = []
        for where, expr, needs_data in pending:
            answer = prom.query(expr)
            if answer.get("status") != "success":
                failures[where] = f"{where}: ERROR {answer.get('errorType')}: {answer.get('error')}\n    {expr}"
                continue
            if needs_data and not answer["data"]["result"]:
                failures[where] = f"{where}: NO DATA\n    {expr}"
                still.append((where, expr, needs_data))
            else:
                failures.pop(where, None)
        pending = still
        if not pending or time.monotonic() > deadline:
            return sorted(failures.values())
        time.sleep(3)


# --------------------------------------------------------------------------- the running stack


async def _publish_invalid(stack: LocalStack) -> None:
    """A few events the worker must dead-letter, so the dead-letter series exist."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap)
    await producer.start()
    try:
        bad = {"event_id": "itest-prom-bad", "type": "call.answered", "occurred_at": "2020-01-01T00:00:00+00:00",
               "queue": "sales", "call_id": "c-bad"}  # wait_seconds missing
        for value in (orjson.dumps(bad), b"{not json"):
            await producer.send_and_wait(stack.settings.topics.calls, value, key=b"bad")
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Prometheus, float]]:
    require_binary("prometheus")
    settings = load_settings(app_id="itest-prom", batch_within_seconds=0.1)
    with LocalStack(settings=settings) as stack:
        stack.start_infra()
        stack.start_worker()
        exporter = stack.start_exporter()
        prom = Prometheus(stack.procs, tmp_path_factory.mktemp("prometheus"),
                          exporter=exporter.removeprefix("http://"), rule_files=[RULES_FILE])
        stack.start_simulator(rate=10, seed=4242)
        started = time.monotonic()
        asyncio.run(_publish_invalid(stack))
        wait_until(lambda: bool(prom.query('up{job="cxpulse"} == 1').get("data", {}).get("result")), 60,
                   "a first successful scrape", prom.proc, interval=0.5)
        yield stack, prom, started


@pytest.mark.timeout(480)  # bounded polls: stack start + DATA_TIMEOUT
def test_prometheus_loads_the_rules_and_evaluates_them_without_error(running: tuple[LocalStack, Prometheus, float]) -> None:
    _, prom, started = running
    deadline = time.monotonic() + 60
    while True:
        groups = prom.api("/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        evaluated = all(rule.get("lastEvaluation", "").startswith("20") for rule in rules)
        if evaluated or time.monotonic() > deadline:
            break
        time.sleep(1)
    expected = sum(1 for _ in rule_expressions(yaml.safe_load(RULES_FILE.read_text())))
    assert len(rules) == expected
    unhealthy = [f"{rule['name']}: {rule.get('health')} {rule.get('lastError')}" for rule in rules
                 if rule.get("health") != "ok"]
    assert not unhealthy, "rules failing in Prometheus:\n" + "\n".join(unhealthy)


@pytest.mark.timeout(480)  # bounded polls: stack start + DATA_TIMEOUT
def test_every_rule_expression_parses_and_returns_data(running: tuple[LocalStack, Prometheus, float]) -> None:
    _, prom, started = running
    checks = [check for check in expressions_to_check() if not check[0].startswith("dashboard")]
    failures = check_expressions(prom, checks, started + DATA_TIMEOUT)
    assert not failures, f"{len(failures)} of {len(checks)} rule expressions failed:\n" + "\n".join(failures)


@pytest.mark.timeout(480)  # bounded polls: stack start + DATA_TIMEOUT
def test_every_dashboard_expression_parses_and_returns_data(running: tuple[LocalStack, Prometheus, float]) -> None:
    _, prom, started = running
    checks = [check for check in expressions_to_check() if check[0].startswith("dashboard")]
    assert len(checks) > 60
    failures = check_expressions(prom, checks, started + DATA_TIMEOUT)
    assert not failures, f"{len(failures)} of {len(checks)} dashboard expressions failed:\n" + "\n".join(failures)


def test_boolify_leaves_label_matchers_alone() -> None:
    assert boolify('up{job="x", a!="b"} == 0') == 'up{job="x", a!="b"} == bool 0'
    assert boolify("a > 0.1\nand b >= on() group_left() max(c)") == "a > bool 0.1\nand b >= bool on() group_left() max(c)"
    assert boolify("a > bool 1") == "a > bool 1"
