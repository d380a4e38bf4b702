"""Cart KPIs: catalog D6 (seed 000's formula computes completion, not abandonment), AOV,
window-edge caps, errors and unit-interval properties."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from cxpulse.settings import Settings
from processors.kpis.carts import (
    CART_KPIS,
    abandonment_rate,
    average_order_value,
    completion_rate,
    seed000_cart_formula,
)

CONTRACT = (Path(__file__).resolve().parents[2] / "docs" / "metrics-contract.md").read_text(encoding="utf-8")


def test_d6_seed000_formula_is_the_completion_rate():
    # D6: 200 carts created, 50 purchases completed, the other 150 abandoned.
    # 000: « Divisez le nombre d'achats finalisés par le nombre de paniers créés » -> 25 %,
    # which is the completion rate; by 000's own definition (carts that « n'aboutissent
    # jamais à un achat ») abandonment is 75 %.
    assert seed000_cart_formula(completed=50, created=200) == pytest.approx(0.25)
    assert completion_rate(created=200, completed=50) == pytest.approx(0.25)
    assert abandonment_rate(created=200, abandoned=150) == pytest.approx(0.75)
    assert seed000_cart_formula(completed=50, created=200) == completion_rate(created=200, completed=50)
    # the catalog's own M22 line: abandonment = 100 − (achats finalisés / paniers créés × 100)
    assert 1 - seed000_cart_formula(completed=50, created=200) == pytest.approx(0.75)


def test_open_carts_belong_to_neither():
    # 200 created, 50 completed, 120 abandoned, 30 still open (within the 30-minute timeout)
    assert completion_rate(created=200, completed=50) == pytest.approx(0.25)
    assert abandonment_rate(created=200, abandoned=120) == pytest.approx(0.60)
    assert Settings().cart_abandon_timeout_seconds == 1800


def test_no_data_and_window_edge_caps():
    assert abandonment_rate(created=0, abandoned=0) is None
    assert completion_rate(created=0, completed=0) is None
    assert seed000_cart_formula(completed=0, created=0) is None
    # carts created before the window, abandoned by the timer inside it
    assert abandonment_rate(created=2, abandoned=5) == 1.0
    assert completion_rate(created=1, completed=3) == 1.0
    assert abandonment_rate(created=3, abandoned=0) == 0.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: abandonment_rate(created=-1, abandoned=0),
        lambda: abandonment_rate(created=10, abandoned=math.nan),
        lambda: completion_rate(created=math.inf, completed=1),
        lambda: seed000_cart_formula(completed=-2, created=10),
        lambda: average_order_value(revenue=-1, orders=2),
        lambda: average_order_value(revenue=10, orders=True),
    ],
)
def test_errors(call):
    with pytest.raises(ValueError):
        call()


def test_keyword_only():
    with pytest.raises(TypeError):
        abandonment_rate(200, 150)  # created and abandoned are too easy to swap


def test_average_order_value():
    # three orders of 30, 50 and 70 EUR -> 50 EUR (004: « votre client moyen dépense 50 € par transaction »)
    assert average_order_value(revenue=150.0, orders=3) == pytest.approx(50.0)
    assert average_order_value(revenue=0.0, orders=0) is None
    assert average_order_value(revenue=0.0, orders=2) == 0.0


def test_thresholds_use_the_abandonment_rate():
    t = Settings().thresholds.cart_abandonment_rate
    assert t.state(abandonment_rate(created=200, abandoned=120)) == "normal"  # 0.60
    assert t.state(abandonment_rate(created=200, abandoned=150)) == "warning"  # D6's 0.75
    assert t.state(abandonment_rate(created=200, abandoned=180)) == "critical"  # 0.90


@hyp_settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=100_000), st.integers(min_value=0, max_value=100_000))
def test_ratios_in_unit_interval(a, b):
    for value in (
        abandonment_rate(created=a, abandoned=b),
        completion_rate(created=a, completed=b),
        seed000_cart_formula(completed=b, created=a),
    ):
        assert value is None or 0.0 <= value <= 1.0


@hyp_settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["completed", "abandoned", "open"]), max_size=60),
       st.lists(st.sampled_from(["completed", "abandoned", "open"]), max_size=60))
def test_summing_buckets_equals_computing_over_all_carts(a, b):
    # each cart created, and ended, in its own bucket: then completion + abandonment + open = 1
    def counts(carts):
        return {k: carts.count(k) for k in ("completed", "abandoned")} | {"created": len(carts)}

    ca, cb = counts(a), counts(b)
    merged = {k: ca[k] + cb[k] for k in ca}
    carts = a + b
    if not carts:
        assert abandonment_rate(created=0, abandoned=0) is None
        return
    assert abandonment_rate(created=merged["created"], abandoned=merged["abandoned"]) == pytest.approx(
        carts.count("abandoned") / len(carts)
    )
    assert completion_rate(created=merged["created"], completed=merged["completed"]) == pytest.approx(
        carts.count("completed") / len(carts)
    )


def test_catalog_names_match_the_api_and_the_contract():
    assert set(CART_KPIS) == {"abandonment_rate", "completion_rate", "aov"}
    for entry in CART_KPIS.values():
        assert entry["description"] and "\n" not in entry["description"]
        assert entry["unit"] in {"ratio", "currency"}
        assert entry["metric"].startswith("cx_")
        assert f"`{entry['metric'].split('{')[0]}" in CONTRACT
