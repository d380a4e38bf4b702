"""Ticket KPIs: the catalog's TTR vectors (§4.3: 12 h and 9 h), TV15, histogram buckets and
quantile estimates, ratios, top categories, errors, and aggregation properties."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from cxpulse.settings import Settings
from processors.kpis.tickets import (
    FRT_BOUNDARIES,
    TICKET_KPIS,
    TTR_BOUNDARIES,
    bucket_fields,
    escalation_rate,
    histogram_index,
    mean_duration,
    quantile,
    reopen_rate,
    ticket_fcr,
    top_categories,
    ttr,
    ttr_status,
)

CONTRACT = (Path(__file__).resolve().parents[2] / "docs" / "metrics-contract.md").read_text(encoding="utf-8")
H = 3600.0


def histogram(durations, boundaries=TTR_BOUNDARIES):
    """Non-cumulative bucket counts, as the worker keeps them (ttr_b0 … ttr_bN)."""
    counts = [0.0] * (len(boundaries) + 1)
    for seconds in durations:
        counts[histogram_index(seconds, boundaries)] += 1
    return counts


# --------------------------------------------------------------------------- TTR (§4.3, §6 item 12)


def test_ttr_catalog_vectors_resolved_vs_requests():
    resolved_durations = [2 * H, 4 * H, 30 * H]
    total = sum(resolved_durations)  # 36 h
    # 004: « TTR = Somme de tous les temps de résolution / Nombre total de tickets résolus »
    assert ttr(total_seconds=total, resolved=3, requests=4) == pytest.approx(12 * H)
    assert ttr(total_seconds=total, resolved=3, requests=4, denominator="resolved") == pytest.approx(12 * H)
    # 000: « Divisez le temps de résolution total par le nombre total de demandes clients »,
    # the same three plus one unresolved request: 36 h / 4
    assert ttr(total_seconds=total, resolved=3, requests=4, denominator="requests") == pytest.approx(9 * H)


def test_ttr_default_is_the_settings_default():
    assert Settings().ttr_denominator == "resolved"
    assert ttr(total_seconds=36 * H, resolved=3, requests=4, denominator=Settings().ttr_denominator) == 12 * H


def test_ttr_no_data_and_errors():
    assert ttr(total_seconds=0, resolved=0, requests=5) is None
    assert ttr(total_seconds=0, resolved=2, requests=0, denominator="requests") is None
    # requests lag resolutions in a window (tickets created earlier): a duration, not capped
    assert ttr(total_seconds=10 * H, resolved=5, requests=1, denominator="requests") == 10 * H
    with pytest.raises(ValueError, match="ttr_denominator"):
        ttr(total_seconds=1, resolved=1, requests=1, denominator="closed")
    with pytest.raises(ValueError):
        ttr(total_seconds=-1, resolved=1, requests=1)
    with pytest.raises(ValueError):
        ttr(total_seconds=1, resolved=1, requests=math.nan)


@pytest.mark.parametrize(
    "mean, status",
    [
        (None, None),
        (0, "good"),
        (12 * H, "good"),  # the §4.3 vector: 12 h
        (24 * H, "good"),  # 004 « 24-48 heures », catalog §5 "warn mean > 24 h"
        (24 * H + 1, "acceptable"),
        (48 * H, "acceptable"),
        (48 * H + 1, "poor"),  # "critical > 48 h"
        (7 * 24 * H, "poor"),
    ],
)
def test_tv15_ttr_status(mean, status):
    assert ttr_status(mean) == status


def test_ttr_status_custom_limits_and_errors():
    # banks or technical services « visent souvent des TTR plus courts pour les problèmes critiques »
    assert ttr_status(5 * H, good_max=4 * H, acceptable_max=8 * H) == "acceptable"
    assert ttr_status(5 * H, good_max=4 * H, acceptable_max=4 * H) == "poor"
    with pytest.raises(ValueError):
        ttr_status(1.0, good_max=10, acceptable_max=5)
    with pytest.raises(ValueError):
        ttr_status(-1.0)


def test_threshold_defaults_match_tv15():
    t = Settings().thresholds.ticket_ttr_seconds
    assert (t.warning, t.critical) == (86400, 172800)


def test_mean_duration_for_frt():
    # first responses after 60 s, 300 s and 1 200 s -> 520 s
    assert mean_duration(total_seconds=1560, count=3) == 520.0
    assert mean_duration(total_seconds=0, count=0) is None
    with pytest.raises(ValueError):
        mean_duration(total_seconds=1, count=-2)


# --------------------------------------------------------------------------- histogram buckets


def test_boundaries_are_as_specified():
    assert TTR_BOUNDARIES == (300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 259200, 604800)
    assert FRT_BOUNDARIES == (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400)
    assert bucket_fields("ttr", TTR_BOUNDARIES) == tuple(f"ttr_b{i}" for i in range(13))
    assert bucket_fields("frt", FRT_BOUNDARIES)[-1] == "frt_b9"


@pytest.mark.parametrize(
    "seconds, index",
    [(0, 0), (1, 0), (300, 0), (300.001, 1), (900, 1), (2 * H, 4), (4 * H, 5), (30 * H, 9),
     (86400, 8), (604800, 11), (604800.5, 12), (1e9, 12)],
)
def test_histogram_index_ttr(seconds, index):
    # bucket i holds (b[i-1], b[i]] like Prometheus' le buckets; 12 is +Inf
    assert histogram_index(seconds, TTR_BOUNDARIES) == index


def test_histogram_index_frt_and_errors():
    assert histogram_index(60, FRT_BOUNDARIES) == 0
    assert histogram_index(61, FRT_BOUNDARIES) == 1
    assert histogram_index(90000, FRT_BOUNDARIES) == len(FRT_BOUNDARIES)
    for bad_seconds in (-1, math.nan, math.inf):
        with pytest.raises(ValueError):
            histogram_index(bad_seconds, TTR_BOUNDARIES)
    for bad_bounds in ((), (10, 5), (10, 10), (0, 10), (10, math.inf)):
        with pytest.raises(ValueError):
            histogram_index(1, bad_bounds)


# --------------------------------------------------------------------------- quantile


B = (10.0, 20.0, 40.0)


@pytest.mark.parametrize(
    "q, counts, expected",
    [
        (0.5, [0, 10, 0, 0], 15.0),  # all in (10, 20]: read as spread evenly
        (0.9, [0, 10, 0, 0], 19.0),
        (0.0, [0, 10, 0, 0], 10.0),  # q = 0: lower edge of the first non-empty bucket
        (1.0, [0, 10, 0, 0], 20.0),
        (0.5, [5, 5, 0, 0], 10.0),  # rank 5 closes the first bucket, which starts at 0
        (0.9, [5, 5, 0, 0], 18.0),  # rank 9: 10 + 10 × 4/5
        (0.25, [4, 0, 0, 0], 2.5),
        (0.5, [0, 0, 0, 3], 40.0),  # in +Inf: the last finite boundary ("at least 40")
        (0.5, [1, 0, 0, 9], 40.0),
        (0.1, [1, 0, 0, 9], 10.0),
        (0.75, [1, 1, 1, 1], 40.0),  # rank 3 closes (20, 40]
    ],
)
def test_quantile_interpolates_like_histogram_quantile(q, counts, expected):
    assert quantile(q, counts, B) == pytest.approx(expected)


def test_quantile_ttr_vector_is_an_estimate_exact_to_the_bucket():
    # §4.3's resolved tickets 2 h, 4 h, 30 h: exact median 4 h, mean 12 h.
    counts = histogram([2 * H, 4 * H, 30 * H])
    p50 = quantile(0.5, counts, TTR_BOUNDARIES)
    assert p50 == pytest.approx(3 * H)  # rank 1.5 halfway through (2 h, 4 h]
    assert 2 * H < p50 <= 4 * H  # the bucket the true median is in
    p90 = quantile(0.9, counts, TTR_BOUNDARIES)
    assert 24 * H < p90 <= 48 * H  # 30 h sits in (24 h, 48 h]
    assert p90 == pytest.approx(24 * H + 24 * H * 0.7)  # rank 2.7: 0.7 of the way in


def test_quantile_no_data_and_errors():
    assert quantile(0.5, [0] * 13, TTR_BOUNDARIES) is None
    with pytest.raises(ValueError):
        quantile(0.5, [1] * 12, TTR_BOUNDARIES)  # one count short of +Inf
    for q in (-0.1, 1.1, math.nan, True):
        with pytest.raises(ValueError):
            quantile(q, [1, 1, 1, 1], B)
    with pytest.raises(ValueError):
        quantile(0.5, [1, -1, 1, 1], B)


durations = st.floats(min_value=0, max_value=2e6, allow_nan=False)


@hyp_settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=13, max_size=13),
       st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=1))
def test_quantile_monotone_and_bounded(counts, q1, q2):
    lo_q, hi_q = sorted((q1, q2))
    a, b = quantile(lo_q, counts, TTR_BOUNDARIES), quantile(hi_q, counts, TTR_BOUNDARIES)
    if sum(counts) == 0:
        assert a is None and b is None
        return
    assert 0.0 <= a <= b <= TTR_BOUNDARIES[-1]


@hyp_settings(max_examples=300, deadline=None)
@given(st.lists(durations, min_size=1, max_size=80), st.floats(min_value=0.01, max_value=1))
def test_quantile_lies_in_the_bucket_of_the_exact_quantile(values, q):
    # exact: the ceil(q·n)-th smallest duration; the estimate is in its bucket
    ordered = sorted(values)
    exact = ordered[max(math.ceil(q * len(ordered)), 1) - 1]
    estimate = quantile(q, histogram(ordered), TTR_BOUNDARIES)
    index = histogram_index(exact, TTR_BOUNDARIES)
    if index == len(TTR_BOUNDARIES):
        assert estimate == TTR_BOUNDARIES[-1]
    else:
        lower = TTR_BOUNDARIES[index - 1] if index else 0.0
        assert lower <= estimate <= TTR_BOUNDARIES[index]


@hyp_settings(max_examples=200, deadline=None)
@given(st.lists(durations, max_size=40), st.lists(durations, max_size=40), st.sampled_from([0.5, 0.9]))
def test_summing_bucket_histograms_equals_one_histogram_of_all(a, b, q):
    merged = [x + y for x, y in zip(histogram(a, FRT_BOUNDARIES), histogram(b, FRT_BOUNDARIES))]
    whole = histogram(a + b, FRT_BOUNDARIES)
    assert merged == whole
    assert quantile(q, merged, FRT_BOUNDARIES) == quantile(q, whole, FRT_BOUNDARIES)
    mean = mean_duration(total_seconds=sum(a) + sum(b), count=len(a) + len(b))
    if a or b:
        assert mean == pytest.approx(sum(a + b) / len(a + b))
    else:
        assert mean is None


# --------------------------------------------------------------------------- ratios


def test_reopen_rate():
    # 50 resolved, 4 reopened -> 0.08
    assert reopen_rate(reopened=4, resolved=50) == pytest.approx(0.08)
    assert reopen_rate(reopened=0, resolved=0) is None
    assert reopen_rate(reopened=3, resolved=2) == 1.0  # reopens of tickets resolved before the window
    with pytest.raises(ValueError):
        reopen_rate(reopened=-1, resolved=2)


def test_escalation_rate():
    # 200 created, 14 escalated -> 0.07 (004 « Moins d'escalades »)
    assert escalation_rate(escalated=14, created=200) == pytest.approx(0.07)
    assert escalation_rate(escalated=0, created=0) is None
    assert escalation_rate(escalated=5, created=1) == 1.0
    with pytest.raises(ValueError):
        escalation_rate(escalated=1, created=math.inf)


def test_ticket_fcr():
    # 80 resolved, 58 of them with a single contact -> 0.725
    assert ticket_fcr(resolved_first_contact=58, resolved=80) == pytest.approx(0.725)
    assert ticket_fcr(resolved_first_contact=0, resolved=0) is None
    with pytest.raises(ValueError):
        ticket_fcr(resolved_first_contact=81, resolved=80)  # both counted on ticket.resolved
    t = Settings().thresholds.fcr  # SQM: average ≈ 67 %, world class ≥ 80 %
    assert t.state(ticket_fcr(resolved_first_contact=58, resolved=80)) == "normal"
    assert t.state(ticket_fcr(resolved_first_contact=52, resolved=80)) == "warning"  # 0.65


@hyp_settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=10_000), st.data())
def test_ticket_ratios_in_unit_interval(a, b, data):
    part = data.draw(st.integers(min_value=0, max_value=b))
    for value in (
        reopen_rate(reopened=a, resolved=b),
        escalation_rate(escalated=a, created=b),
        ticket_fcr(resolved_first_contact=part, resolved=b),
    ):
        assert value is None or 0.0 <= value <= 1.0


# --------------------------------------------------------------------------- top categories (M10)


def test_top_categories_order_ties_and_zeros():
    counts = {"billing": 12, "delivery": 30, "returns": 12, "login": 0, "account": 3}
    assert top_categories(counts, 3) == [("delivery", 30), ("billing", 12), ("returns", 12)]
    assert top_categories(counts, 10) == [("delivery", 30), ("billing", 12), ("returns", 12), ("account", 3)]
    assert top_categories({}, 5) == []
    assert top_categories({"a": 0.0}, 5) == []
    assert top_categories(counts, Settings().ticket_top_categories)[0] == ("delivery", 30)


def test_top_categories_errors():
    for k in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            top_categories({"a": 1}, k)
    with pytest.raises(ValueError):
        top_categories({"a": -1}, 3)


def test_catalog_names_match_the_api_and_the_contract():
    assert set(TICKET_KPIS) == {
        "ttr_mean_seconds", "ttr_p50_seconds", "ttr_p90_seconds",
        "frt_mean_seconds", "frt_p50_seconds", "frt_p90_seconds",
        "reopen_rate", "escalation_rate", "fcr", "top_categories",
    }
    for entry in TICKET_KPIS.values():
        assert entry["description"] and "\n" not in entry["description"]
        assert entry["unit"] in {"ratio", "seconds", "tickets"}
        assert entry["metric"].startswith("cx_")
        assert f"`{entry['metric'].split('{')[0]}" in CONTRACT
