"""docker-compose.yml: valid against the Compose specification, and wired as documented.

The schema is the Compose specification's JSON schema as vendored by
``check-jsonschema`` (``--builtin-schema vendor.compose-spec``); no Docker is needed.
check-jsonschema is pinned below 0.38 in the test extras: later releases need
click >= 8.5 while faust-streaming pins click < 8.4, and ``pip check`` must stay clean.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cxpulse.dashboards import DATASOURCE_UID
from cxpulse.embedded import REDIS_TUNING

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec("check_jsonschema") is None:
        message = "check-jsonschema is not installed (test extra: pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run every test: {message}")
        pytest.skip(message)
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120,
    )


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_validates_against_the_compose_spec() -> None:
    result = _check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = _compose()
    broken["services"]["worker"]["deploy"] = {"replicas": "two"}
    broken["services"]["redis"]["restart_policy"] = "always"  # not a service property
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = _check_jsonschema(path)
    assert result.returncode != 0, "the compose-spec check accepted an invalid file"


def test_services_are_wired_as_documented() -> None:
    services = _compose()["services"]
    assert {"kafka", "redis", "worker", "exporter", "prometheus", "alertmanager", "grafana", "simulator"} <= set(services)

    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "ZOOKEEPER" not in " ".join(kafka)  # KRaft
    assert "--appendonly" in services["redis"]["command"] and "yes" in services["redis"]["command"]
    command = services["redis"]["command"]
    pairs = list(zip(REDIS_TUNING[::2], REDIS_TUNING[1::2]))
    assert all(command[command.index(name) + 1] == value for name, value in pairs), "tuned as the embedded Redis is"

    worker = services["worker"]
    assert "container_name" not in worker, "a container_name prevents scaling the workers"
    assert worker["deploy"]["replicas"] >= 1
    assert worker["environment"]["CXPULSE_KAFKA_URL"].startswith("kafka://kafka:")

    assert services["simulator"]["profiles"] == ["demo"]
    for name, service in services.items():
        assert "profiles" not in service or name == "simulator", f"{name} must start without a profile"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def _mounts(service: dict) -> dict[str, str]:
    """container path -> host path of a service's bind mounts."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *_ = str(volume).split(":")
        if source.startswith("./"):
            out[target] = source
    return out


def test_monitoring_mounts_the_committed_ops_files() -> None:
    services = _compose()["services"]
    prometheus = _mounts(services["prometheus"])
    assert prometheus["/etc/prometheus"] == "./ops/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    config = yaml.safe_load((ROOT / "ops/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["rules.yml"] and (ROOT / "ops/prometheus/rules.yml").is_file()
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "cxpulse"]
    assert job["static_configs"][0]["targets"] == ["exporter:9477"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]

    alertmanager = _mounts(services["alertmanager"])
    assert alertmanager["/etc/alertmanager"] == "./ops/alertmanager"

    grafana = _mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"] == "./ops/grafana/provisioning"
    provider = yaml.safe_load((ROOT / "ops/grafana/provisioning/dashboards/cxpulse.yml").read_text())
    assert grafana[provider["providers"][0]["options"]["path"]] == "./ops/grafana/dashboards"
    datasource = yaml.safe_load((ROOT / "ops/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert datasource["datasources"][0]["uid"] == DATASOURCE_UID

    for service in services.values():
        for source in _mounts(service).values():
            assert (ROOT / source).exists(), f"{source} is mounted but missing from the repository"
