"""The Grafana dashboards: generated from code, coloured with Settings().thresholds.

The committed JSON must equal the generator's output (nobody hand-edits a colour step),
follow Grafana's dashboard JSON model, read only contract metrics and reference the
provisioned data source. Their queries are run against a real Prometheus in
``tests/integration/test_prometheus.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from cxpulse import dashboards
from cxpulse.dashboards import DATASOURCE_UID, build_dashboards, dashboard_expressions, iter_panels, threshold_steps
from cxpulse.rules import default_settings
from cxpulse.settings import Settings, Threshold, Thresholds
from tests.unit.test_rules import contract_metrics, metrics_read

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "ops/grafana/dashboards"
PROVISIONING = ROOT / "ops/grafana/provisioning"


def _committed() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def test_committed_dashboards_equal_the_generated_ones() -> None:
    generated = build_dashboards(default_settings())
    assert sorted(generated) == sorted(_committed()), "dashboard files differ from the generator's set"
    for name, document in generated.items():
        assert (DASHBOARD_DIR / name).read_text() == dashboards.render(document), (
            f"{name} differs from the generator: do not edit it by hand; run "
            "`cxpulse dashboards --out ops/grafana/dashboards` (or `python -m cxpulse.dashboards --defaults`)"
        )


def test_json_model_is_well_formed() -> None:
    uids = set()
    for name, document in _committed().items():
        assert document["schemaVersion"] == 39
        assert document["uid"] not in uids
        uids.add(document["uid"])
        assert "cxpulse" in document["tags"]
        ids = [panel["id"] for panel in iter_panels(document["panels"])]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for panel in iter_panels(document["panels"]):
            pos = panel["gridPos"]
            assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] >= 1, (name, panel["title"])
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
            assert panel["targets"], (name, panel["title"])
            refs = [target["refId"] for target in panel["targets"]]
            assert len(refs) == len(set(refs))
            for target in panel["targets"]:
                assert target["expr"].strip() and target["datasource"]["uid"] == DATASOURCE_UID
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            assert steps[0]["value"] is None, "Grafana's base step has value null"
            values = [step["value"] for step in steps[1:]]
            assert values == sorted(values), (name, panel["title"], "steps must ascend")


def test_dashboards_read_only_contract_metrics() -> None:
    contract = contract_metrics()
    for document in _committed().values():
        for where, expr in dashboard_expressions(document):
            unknown = metrics_read(expr) - contract
            assert not unknown, f"{where} reads metrics missing from docs/metrics-contract.md: {unknown}"


def test_wall_has_a_tile_per_queue_for_each_kpi_with_settings_colours() -> None:
    wall = _committed()["cxpulse-wall.json"]
    names = [variable["name"] for variable in wall["templating"]["list"]]
    assert names[:2] == ["queue", "channel"]
    rows = [panel for panel in wall["panels"] if panel["type"] == "row"]
    repeated = [row for row in rows if row.get("repeat") == "queue"]
    assert len(repeated) == 1
    start = wall["panels"].index(repeated[0])
    following = wall["panels"][start + 1:]
    tiles = []
    for panel in following:
        if panel["type"] == "row":
            break
        tiles.append(panel)
    t = default_settings().thresholds
    expected = {
        "Calls waiting": t.calls_waiting,
        "Longest wait": t.longest_wait_seconds,
        "Abandon rate ($window)": t.abandon_rate,
        "Service level ($window)": t.service_level,
        "ASA ($window)": t.asa_seconds,
        "AHT ($window)": t.aht_seconds,
    }
    assert [tile["title"] for tile in tiles] == list(expected)
    for tile in tiles:
        assert tile["type"] == "stat"
        assert tile["fieldConfig"]["defaults"]["thresholds"]["steps"] == threshold_steps(expected[tile["title"]])
        assert tile["options"]["colorMode"] == "background"
        for target in tile["targets"]:
            assert 'queue=~"$queue"' in target["expr"] and 'channel=~"$channel"' in target["expr"]
            assert target["instant"] is True


def test_colour_steps_follow_settings() -> None:
    assert threshold_steps(Threshold(warning=0.05, critical=0.1)) == [
        {"color": "green", "value": None}, {"color": "orange", "value": 0.05}, {"color": "red", "value": 0.1}]
    assert threshold_steps(Threshold(warning=0.8, critical=0.7, higher_is_worse=False)) == [
        {"color": "red", "value": None}, {"color": "orange", "value": math.nextafter(0.7, math.inf)},
        {"color": "green", "value": math.nextafter(0.8, math.inf)}]
    custom = Thresholds(abandon_rate=Threshold(warning=0.02, critical=0.04))
    base = default_settings().model_dump()
    base["thresholds"] = custom.model_dump()
    settings = Settings(_env_prefix="CXPULSE_IGNORED_FOR_DEFAULTS_", **base)  # type: ignore[call-arg]
    wall = dashboards.wall(settings)
    abandon = [p for p in iter_panels(wall["panels"]) if p["title"] == "Abandon rate ($window)"]
    assert abandon and all(p["fieldConfig"]["defaults"]["thresholds"]["steps"][2]["value"] == 0.04 for p in abandon)


# --------------------------------------------------------------------------- colours at the levels

STATE_OF_COLOUR = {"green": "normal", "orange": "warning", "red": "critical"}


def grafana_colour(steps: list[dict], value: float) -> str:
    """Grafana's ``getActiveThreshold``: the last step whose value is <= the value (base: -inf)."""
    active = steps[0]
    for step in steps[1:]:
        if value >= step["value"]:
            active = step
        else:
            break
    return active["color"]


def _around(level: float) -> list[float]:
    """The level, the floats right next to it, and values a display rounding apart."""
    return [level, math.nextafter(level, -math.inf), math.nextafter(level, math.inf), level - 1e-6, level + 1e-6]


def _levels() -> list[Threshold]:
    defaults = default_settings().thresholds
    out = [value for value in (getattr(defaults, name) for name in Thresholds.model_fields)
           if isinstance(value, Threshold)]
    assert any(t.higher_is_worse for t in out) and any(not t.higher_is_worse for t in out)
    # and each level flipped, so both branches of threshold_steps see every value
    return out + [t.model_copy(update={"higher_is_worse": not t.higher_is_worse,
                                       "warning": t.critical, "critical": t.warning}) for t in out]


def test_grafana_colours_equal_threshold_state_at_and_around_every_level() -> None:
    """The wall (``Threshold.state``), the pager (``>=``/``<=``, tests/unit/test_rules.py and
    ops/prometheus/tests/thresholds.yml) and Grafana agree even on a value equal to a level.
    The steps go through JSON as Grafana reads them from the committed files."""
    for threshold in _levels():
        steps = json.loads(json.dumps(threshold_steps(threshold)))
        for level in (threshold.warning, threshold.critical):
            for value in _around(level):
                assert STATE_OF_COLOUR[grafana_colour(steps, value)] == threshold.state(value), (threshold, value)


def test_committed_panels_colour_like_threshold_state() -> None:
    """Every committed panel coloured by a ``Threshold`` agrees with it at its levels."""
    thresholds = _levels()[: len(_levels()) // 2]
    checked = 0
    for document in _committed().values():
        for panel in iter_panels(document["panels"]):
            steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps")
            matches = [t for t in thresholds if steps == json.loads(json.dumps(threshold_steps(t)))]
            for threshold in matches:
                for level in (threshold.warning, threshold.critical):
                    for value in _around(level):
                        assert STATE_OF_COLOUR[grafana_colour(steps, value)] == threshold.state(value), (
                            panel["title"], value)
                checked += 1
    assert checked >= 10  # the wall tiles and trends, surveys, tickets and carts


def test_surveys_show_sample_counts_against_min_sample() -> None:
    surveys = _committed()["cxpulse-surveys.json"]
    titles = [panel["title"] for panel in iter_panels(surveys["panels"])]
    for title in ("NPS answers ($window)", "CSAT answers ($window)", "CES answers ($window)"):
        assert title in titles
    answers = next(p for p in iter_panels(surveys["panels"]) if p["title"] == "NPS answers ($window)")
    assert answers["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == default_settings().survey_min_sample


def test_provisioning_points_at_the_dashboards_and_the_datasource() -> None:
    datasource = yaml.safe_load((PROVISIONING / "datasources/prometheus.yml").read_text())
    [source] = datasource["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "prometheus"
    provider = yaml.safe_load((PROVISIONING / "dashboards/cxpulse.yml").read_text())
    [entry] = provider["providers"]
    assert entry["type"] == "file" and entry["options"]["path"] == "/var/lib/grafana/dashboards/cxpulse"


def test_main_dashboards_writes_every_file(tmp_path: Path) -> None:
    written = dashboards.main_dashboards(tmp_path, default_settings())
    assert sorted(p.name for p in written) == sorted(_committed())
    for path in written:
        assert path.read_text() == (DASHBOARD_DIR / path.name).read_text()
