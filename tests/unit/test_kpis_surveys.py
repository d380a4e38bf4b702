"""Survey KPIs: the seeds' worked examples (TV3, TV4, TV10, TV11, TV12, TV14, D9, §4.3
CSAT), every scale and polarity variant, errors, and properties showing that summing
bucket counters gives the same figures as computing over the raw responses."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from cxpulse.settings import Settings
from processors.kpis.surveys import (
    CSAT_DELIVERY_TARGET,
    NPS_BANDS,
    NPS_BELOW_BANDS,
    NPS_CLASS_CODES,
    SURVEY_KPIS,
    ces_easy_rate,
    ces_is_easy,
    ces_normalized,
    classify_nps,
    csat,
    csat_band,
    csat_is_satisfied,
    csat_normalized,
    meaningful,
    mean_score,
    nps,
    nps_band,
    nps_bands_for,
    nps_from_last,
    response_rate,
)

CONTRACT = (Path(__file__).resolve().parents[2] / "docs" / "metrics-contract.md").read_text(encoding="utf-8")
DEFAULT_SATISFIED = Settings().csat_satisfied  # {"1-5": [4, 5], "1-7": [6, 7], "0-10": [9, 10], ...}
SEED003 = NPS_BANDS["seed003"]
SEED004 = NPS_BANDS["seed004"]


def counts_of(scores, scale_min=0, scale_max=10):
    """Classify raw NPS answers one by one, as the worker does, and count the classes."""
    counts = {"promoter": 0, "passive": 0, "detractor": 0}
    for score in scores:
        counts[classify_nps(score, scale_min, scale_max)] += 1
    return counts


def nps_of(counts):
    return nps(promoters=counts["promoter"], passives=counts["passive"], detractors=counts["detractor"])


# --------------------------------------------------------------------------- NPS classification (TV12)


@pytest.mark.parametrize(
    "score, expected",
    [
        (0, "detractor"),  # 002 « une note de 0 à 6 », 004 « Détracteurs (0-6) »
        (1, "detractor"),
        (6, "detractor"),
        (6.0, "detractor"),  # a whole float is a whole answer
        (7, "passive"),  # « Passifs (7-8) »
        (8, "passive"),
        (9, "promoter"),  # « Promoteurs (9-10) »
        (10, "promoter"),
    ],
)
def test_classify_nps_on_0_to_10(score, expected):
    assert classify_nps(score, 0, 10) == expected


@pytest.mark.parametrize("score, expected", [(1, "detractor"), (6, "detractor"), (7, "passive"), (9, "promoter")])
def test_classify_nps_on_1_to_10_as_seeds_000_and_002(score, expected):
    # 000: « de 1 à 10 … les notes de 6 et moins (« détracteurs ») … 9 ou 10 (« promoteurs ») »;
    # the classes do not move, no rescaling.
    assert classify_nps(score, 1, 10) == expected


@pytest.mark.parametrize(
    "score, lo, hi",
    [
        (0, 1, 10),  # 0 is not on a 1-10 scale
        (11, 0, 10),
        (-1, 0, 10),
        (6.5, 0, 10),  # not a whole answer
        (math.nan, 0, 10),
        (math.inf, 0, 10),
        (True, 0, 10),
        ("9", 0, 10),
        (3, 1, 5),  # a 1-5 scale is not an NPS question
        (5, 0, 5),
        (5, 2, 10),
        (5, 0, 100),
        (5, 10, 0),
        (5, 0.0, 10),  # scale bounds are integers
    ],
)
def test_classify_nps_rejects(score, lo, hi):
    with pytest.raises(ValueError):
        classify_nps(score, lo, hi)


# --------------------------------------------------------------------------- NPS (TV3, TV10, D9)


def test_tv3_from_100_raw_responses():
    # 003: « si 50 % de vos réponses étaient 9 ou 10, et 20 % étaient 6 ou moins, vous
    # calculerez 50 % à 20 %, ce qui vous donne 30 % » — built as in D9 from raw answers:
    # 50 × {9, 10}, 30 × {7, 8}, 20 × {0..6}.
    scores = [9] * 25 + [10] * 25 + [7] * 15 + [8] * 15 + [0, 1, 2, 3, 4, 5, 6] * 2 + [6] * 6
    assert len(scores) == 100
    counts = counts_of(scores)
    assert counts == {"promoter": 50, "passive": 30, "detractor": 20}
    assert nps_of(counts) == pytest.approx(30.0)  # a score of 30, not "30 %"
    assert nps_band(nps_of(counts), SEED003) == "favorable"  # TV4: NPS = 30 -> « favorable »


def test_tv3_on_seed000_scale_1_to_10():
    scores = [9] * 25 + [10] * 25 + [7] * 15 + [8] * 15 + [1, 2, 3, 4, 5, 6] * 3 + [6] * 2
    assert nps_of(counts_of(scores, 1, 10)) == pytest.approx(30.0)


def test_d9_count_reading_diverges_from_percentages_when_n_is_not_100():
    # D9: n = 200, 100 promoters, 60 passives, 40 detractors.
    scores = [10] * 100 + [7] * 60 + [3] * 40
    counts = counts_of(scores)
    # percentages (003, 004): 50 % - 20 % = 30
    assert nps_of(counts) == pytest.approx(30.0)
    # 000's « Soustrayez … les notes de 6 et moins … de celles de 9 ou 10 » read as
    # counts would say 100 - 40 = 60; cxpulse does not implement that reading.
    assert counts["promoter"] - counts["detractor"] == 60
    # with n = 100 the two readings happen to agree (D9's first row)
    assert nps(promoters=50, passives=30, detractors=20) == 50 - 20


def test_tv10_range_ends():
    # 004: « de -100 (si tous les clients sont des détracteurs) à +100 (si tous sont des promoteurs) »
    assert nps_of(counts_of([0, 3, 6] * 10)) == -100.0
    assert nps_of(counts_of([9, 10] * 10)) == 100.0
    assert nps_of(counts_of([7, 8] * 10)) == 0.0  # passives only: neither end


def test_nps_no_data_and_errors():
    assert nps(promoters=0, passives=0, detractors=0) is None
    assert nps(promoters=0, passives=5, detractors=0) == 0.0
    for bad in (dict(promoters=-1, passives=0, detractors=0), dict(promoters=1, passives=math.nan, detractors=0)):
        with pytest.raises(ValueError):
            nps(**bad)
    with pytest.raises(TypeError):
        nps(1, 2, 3)  # keyword-only: the counters are too easy to swap


def test_nps_from_last():
    assert nps_from_last(["p", "p", "s", "d"]) == pytest.approx(25.0)  # 100 * (2 - 1) / 4
    assert nps_from_last("ppsd") == pytest.approx(25.0)  # a string of codes works too
    assert nps_from_last([]) is None
    assert nps_from_last("d" * 5) == -100.0
    # the worker maps classify_nps to the codes
    last = [NPS_CLASS_CODES[classify_nps(s, 0, 10)] for s in [10, 9, 8, 2, 6]]
    assert last == ["p", "p", "s", "d", "d"]
    assert nps_from_last(last) == 0.0
    for bad in (["p", "x"], ["promoter"], "ps d"):
        with pytest.raises(ValueError):
            nps_from_last(bad)


# --------------------------------------------------------------------------- NPS bands (TV4, TV11)


@pytest.mark.parametrize(
    "score, seed003, seed004",
    [
        (-100, NPS_BELOW_BANDS, NPS_BELOW_BANDS),
        (-0.5, NPS_BELOW_BANDS, NPS_BELOW_BANDS),
        (0, NPS_BELOW_BANDS, NPS_BELOW_BANDS),  # « supérieur à 0 » is strict
        (0.1, "bon", "bon"),
        (20, "bon", "bon"),  # 20 is not « supérieur à 20 »
        (20.5, "favorable", "bon"),
        (30, "favorable", "bon"),  # TV4 vs TV11: the same 30, two band sets
        (50, "favorable", "bon"),  # 50 is not « supérieur à 50 »
        (51, "excellent", "excellent"),
        (70, "excellent", "excellent"),  # 004's Apple anecdote: « souvent supérieur à 70 »
        (100, "excellent", "excellent"),
    ],
)
def test_tv4_tv11_bands(score, seed003, seed004):
    assert nps_band(score, SEED003) == seed003
    assert nps_band(score, SEED004) == seed004


def test_band_sets_are_the_seeds():
    assert NPS_BANDS == {
        "seed003": ((0, "bon"), (20, "favorable"), (50, "excellent")),
        "seed004": ((0, "bon"), (50, "excellent")),
    }
    assert NPS_BELOW_BANDS == "à améliorer"


def test_nps_band_custom_none_and_errors():
    assert nps_band(None, SEED003) is None
    custom = [(50.0, "excellent"), (0.0, "bon"), (70.0, "apple")]  # order does not matter
    assert nps_band(71, custom) == "apple"
    assert nps_band(60, custom) == "excellent"
    assert nps_band(-10, custom, below="poor") == "poor"
    assert nps_band(10, []) == NPS_BELOW_BANDS
    with pytest.raises(ValueError):
        nps_band(10, [(0, "a"), (0, "b")])  # same bound twice is ambiguous
    for bad in (101, -100.5, math.nan):
        with pytest.raises(ValueError):
            nps_band(bad, SEED003)


def test_nps_bands_for_settings():
    assert nps_bands_for("seed003") == SEED003
    assert nps_bands_for("seed004") == SEED004
    s = Settings()
    assert nps_bands_for(s.nps_band_set, s.nps_custom_bands) == SEED003
    assert nps_bands_for("custom", [(50, "excellent"), (0, "bon")]) == ((0.0, "bon"), (50.0, "excellent"))
    with pytest.raises(ValueError):
        nps_bands_for("seed005")


# --------------------------------------------------------------------------- CSAT (§4.3, TV14)


def test_csat_catalog_vector_200_responses():
    # §4.3: 1-5 scale, 200 responses: 90 × 5, 70 × 4, 40 × ≤3 -> 80 %, inside 75-85 %
    scores = [5] * 90 + [4] * 70 + [3] * 20 + [2] * 12 + [1] * 8
    satisfied = sum(csat_is_satisfied(s, 1, 5, DEFAULT_SATISFIED) for s in scores)
    assert (satisfied, len(scores)) == (160, 200)
    value = csat(satisfied=satisfied, responses=len(scores))
    assert value == pytest.approx(0.80)
    assert csat_band(value) == "good"
    # the secondary mean on 1-5: (450 + 280 + 60 + 24 + 8) / 200 = 4.11
    total = sum(csat_normalized(s, 1, 5) for s in scores)
    assert mean_score(total=total, count=len(scores)) == pytest.approx(4.11)


@pytest.mark.parametrize(
    "score, lo, hi, expected",
    [
        (4, 1, 5, True),  # 004 « Satisfait »
        (5, 1, 5, True),  # « Très satisfait »
        (3, 1, 5, False),
        (1, 1, 5, False),
        (9, 1, 10, True),  # 001/002's 1-10: top-two-box by default
        (8, 1, 10, False),
        (10, 0, 10, True),
        (6, 1, 7, True),
        (5, 1, 7, False),
        (1, 0, 1, True),  # 004 « oui/non »: yes
        (0, 0, 1, False),
    ],
)
def test_csat_is_satisfied_scales(score, lo, hi, expected):
    assert csat_is_satisfied(score, lo, hi, DEFAULT_SATISFIED) is expected


def test_csat_satisfied_set_is_configurable():
    # a site that counts 8-10 as satisfied on its 10-point scale
    assert csat_is_satisfied(8, 1, 10, {"1-10": [8, 9, 10]})


def test_csat_unknown_scale_names_the_setting():
    with pytest.raises(ValueError, match="csat_satisfied"):
        csat_is_satisfied(3, 1, 4, DEFAULT_SATISFIED)
    for bad in ((6, 1, 5), (0, 1, 5), (4.5, 1, 5), (math.nan, 1, 5), (1, 1, 1)):
        with pytest.raises(ValueError):
            csat_is_satisfied(*bad, DEFAULT_SATISFIED)


@pytest.mark.parametrize(
    "score, lo, hi, expected",
    [(1, 1, 5, 1.0), (4, 1, 5, 4.0), (5, 1, 5, 5.0), (1, 1, 10, 1.0), (10, 1, 10, 5.0), (5.5, 1, 10, 3.0),
     (0, 0, 10, 1.0), (5, 0, 10, 3.0), (0, 0, 1, 1.0), (1, 0, 1, 5.0), (4, 1, 7, 3.0)],
)
def test_csat_normalized(score, lo, hi, expected):
    assert csat_normalized(score, lo, hi) == pytest.approx(expected)


def test_csat_errors_and_no_data():
    assert csat(satisfied=0, responses=0) is None
    assert mean_score(total=0, count=0) is None
    with pytest.raises(ValueError):
        csat(satisfied=11, responses=10)  # both counted on the same survey.response
    with pytest.raises(ValueError):
        csat(satisfied=-1, responses=10)
    with pytest.raises(ValueError):
        mean_score(total=1, count=-1)
    with pytest.raises(ValueError):
        csat_normalized(6, 1, 5)


@pytest.mark.parametrize(
    "value, band",
    [(None, None), (0.0, "below"), (0.7499, "below"), (0.75, "good"), (0.80, "good"), (0.85, "good"),
     (0.8501, "above"), (0.95, "above"), (1.0, "above")],
)
def test_tv14_csat_band(value, band):
    # 004: « Un bon CSAT se situe généralement entre 75% et 85% »
    assert csat_band(value) == band


def test_tv14_delivery_target_and_errors():
    # « Les services de livraison en ligne … visent souvent un CSAT supérieur à 90% »
    assert CSAT_DELIVERY_TARGET == 0.90
    assert csat_band(0.92) == "above"
    assert csat_band(ratio=0.80) == "good"  # called by keyword
    for bad in (1.2, -0.1, math.nan):
        with pytest.raises(ValueError):
            csat_band(bad)


# --------------------------------------------------------------------------- CES


@pytest.mark.parametrize(
    "score, lo, hi, polarity, expected",
    [
        # 004's 1-7 « Très difficile à Très facile »: high = easy
        (1, 1, 7, "higher_is_better", 1.0),
        (5, 1, 7, "higher_is_better", 5.0),
        (7, 1, 7, "higher_is_better", 7.0),
        # 002's « Très faible effort » -> « Très grand effort » on 1-7: high = effort
        (1, 1, 7, "lower_is_better", 7.0),
        (7, 1, 7, "lower_is_better", 1.0),
        # 000's five options, "how easy": 1-5, high = easy
        (1, 1, 5, "higher_is_better", 1.0),
        (3, 1, 5, "higher_is_better", 4.0),
        (4, 1, 5, "higher_is_better", 5.5),
        (5, 1, 5, "higher_is_better", 7.0),
        # 004's 1-5 agreement with « J'ai dû déployer beaucoup d'efforts… »: high = effort
        (5, 1, 5, "lower_is_better", 1.0),
        (4, 1, 5, "lower_is_better", 2.5),
        (1, 1, 5, "lower_is_better", 7.0),
        # thumbs up / down
        (1, 0, 1, "higher_is_better", 7.0),
        (0, 0, 1, "higher_is_better", 1.0),
    ],
)
def test_ces_normalized_scales_and_polarities(score, lo, hi, polarity, expected):
    assert ces_normalized(score, lo, hi, polarity) == pytest.approx(expected)


def test_ces_004_negative_wording_higher_mean_is_not_better():
    # §6 item 6: on 004's 1-5 « J'ai dû déployer beaucoup d'efforts », customers who
    # agree (4, 5) had the harder time, yet their raw mean is higher.
    struggled, breezed = [5, 4, 5, 4], [1, 2, 1, 2]
    assert fmean(struggled) > fmean(breezed)  # "un score moyen plus élevé" would call this better
    norm = lambda scores: fmean(ces_normalized(s, 1, 5, "lower_is_better") for s in scores)  # noqa: E731
    assert norm(struggled) < norm(breezed)  # after normalisation, higher really is easier
    assert norm(struggled) == pytest.approx(1.75) and norm(breezed) == pytest.approx(6.25)


def test_ces_easy_threshold_and_rate():
    assert ces_is_easy(5.0)  # inclusive: the default makes 5, 6, 7 on 1-7 easy
    assert not ces_is_easy(4.999)
    assert ces_is_easy(ces_normalized(4, 1, 5, "higher_is_better"))  # 5.5
    assert not ces_is_easy(ces_normalized(3, 1, 5, "higher_is_better"))  # 4.0
    assert ces_is_easy(ces_normalized(2, 1, 5, "lower_is_better"))  # 5.5
    assert not ces_is_easy(6.0, threshold=6.5)
    answers = [7, 6, 5, 4, 2]  # 1-7, higher is easier: 3 easy of 5
    easy = sum(ces_is_easy(ces_normalized(a, 1, 7, "higher_is_better")) for a in answers)
    assert ces_easy_rate(easy=easy, responses=len(answers)) == pytest.approx(0.6)
    assert mean_score(total=sum(answers), count=len(answers)) == pytest.approx(4.8)
    assert ces_easy_rate(easy=0, responses=0) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: ces_normalized(3, 1, 5, "higher_is_easier"),
        lambda: ces_normalized(6, 1, 5, "higher_is_better"),
        lambda: ces_normalized(math.nan, 1, 5, "higher_is_better"),
        lambda: ces_normalized(3, 5, 1, "higher_is_better"),
        lambda: ces_is_easy(0.5),
        lambda: ces_is_easy(7.5),
        lambda: ces_is_easy(5, threshold=8),
        lambda: ces_easy_rate(easy=3, responses=2),
    ],
)
def test_ces_errors(call):
    with pytest.raises(ValueError):
        call()


# --------------------------------------------------------------------------- response rate, sample size


def test_response_rate():
    # M05: 40 responses to 200 surveys sent -> 0.20
    assert response_rate(responses=40, sent=200) == pytest.approx(0.20)
    assert response_rate(responses=0, sent=0) is None
    assert response_rate(responses=5, sent=3) == 1.0  # answers to surveys sent before the window
    with pytest.raises(ValueError):
        response_rate(responses=-1, sent=3)


def test_meaningful_uses_survey_min_sample():
    min_sample = Settings().survey_min_sample
    assert min_sample == 30
    assert not meaningful(29, min_sample)
    assert meaningful(30, min_sample)
    assert meaningful(500, min_sample)
    assert not meaningful(0, 1)
    for bad in ((-1, 30), (10, 0), (10, 2.5), (math.nan, 30)):
        with pytest.raises(ValueError):
            meaningful(*bad)


def test_catalog_names_match_the_api_and_the_contract():
    assert set(SURVEY_KPIS) == {"nps", "nps_band", "csat", "csat_mean", "ces_mean", "ces_easy_rate", "response_rate"}
    for name, entry in SURVEY_KPIS.items():
        assert entry["description"] and "\n" not in entry["description"]
        assert entry["unit"] in {"ratio", "score", "band"}
        if name == "nps_band":
            assert entry["metric"] == ""  # API only, derived from nps
        else:
            assert entry["metric"].startswith("cx_")
            assert f"`{entry['metric'].split('{')[0]}" in CONTRACT


# --------------------------------------------------------------------------- properties

counts = st.integers(min_value=0, max_value=100_000)


@hyp_settings(max_examples=300, deadline=None)
@given(counts, counts, counts)
def test_nps_always_in_range(p, s, d):
    value = nps(promoters=p, passives=s, detractors=d)
    if p + s + d == 0:
        assert value is None
    else:
        assert -100.0 <= value <= 100.0


@hyp_settings(max_examples=300, deadline=None)
@given(counts, st.data())
def test_survey_ratios_in_unit_interval(whole, data):
    part = data.draw(st.integers(min_value=0, max_value=whole))
    sent = data.draw(counts)
    for value in (
        csat(satisfied=part, responses=whole),
        ces_easy_rate(easy=part, responses=whole),
        response_rate(responses=whole, sent=sent),
        response_rate(responses=part, sent=whole),
    ):
        assert value is None or 0.0 <= value <= 1.0


scales = st.sampled_from([(1, 5), (1, 7), (0, 10), (1, 10), (0, 1), (1, 3)])


@hyp_settings(max_examples=300, deadline=None)
@given(scales, st.data())
def test_ces_normalized_range_and_polarity_symmetry(scale, data):
    lo, hi = scale
    score = data.draw(st.integers(min_value=lo, max_value=hi))
    up = ces_normalized(score, lo, hi, "higher_is_better")
    down = ces_normalized(score, lo, hi, "lower_is_better")
    assert 1.0 <= up <= 7.0 and 1.0 <= down <= 7.0
    assert up + down == pytest.approx(8.0)  # flipping polarity mirrors around 4
    # answering s under "effort" wording is answering lo + hi - s under "easy" wording
    assert down == pytest.approx(ces_normalized(lo + hi - score, lo, hi, "higher_is_better"))
    # and it preserves order: a higher raw score is easier under one polarity, harder under the other
    if score < hi:
        assert ces_normalized(score + 1, lo, hi, "higher_is_better") > up
        assert ces_normalized(score + 1, lo, hi, "lower_is_better") < down


@dataclass(frozen=True)
class Response:
    survey_type: str
    score: int
    lo: int
    hi: int
    polarity: str = "higher_is_better"


@st.composite
def responses(draw):
    kind = draw(st.sampled_from(["nps", "csat", "ces"]))
    if kind == "nps":
        lo, hi = draw(st.sampled_from([(0, 10), (1, 10)]))
    elif kind == "csat":
        lo, hi = draw(st.sampled_from([(1, 5), (1, 7), (0, 10), (1, 10), (0, 1)]))
    else:
        lo, hi = draw(st.sampled_from([(1, 5), (1, 7)]))
    polarity = draw(st.sampled_from(["higher_is_better", "lower_is_better"])) if kind == "ces" else "higher_is_better"
    return Response(kind, draw(st.integers(min_value=lo, max_value=hi)), lo, hi, polarity)


def bucket(rs: list[Response]) -> dict[str, float]:
    """What the worker adds to a bucket, one response at a time."""
    c = dict.fromkeys(
        "nps_promoters nps_passives nps_detractors csat_responses csat_satisfied csat_score "
        "ces_responses ces_easy ces_score".split(),
        0.0,
    )
    for r in rs:
        if r.survey_type == "nps":
            c["nps_" + {"promoter": "promoters", "passive": "passives", "detractor": "detractors"}[
                classify_nps(r.score, r.lo, r.hi)]] += 1
        elif r.survey_type == "csat":
            c["csat_responses"] += 1
            c["csat_satisfied"] += csat_is_satisfied(r.score, r.lo, r.hi, DEFAULT_SATISFIED)
            c["csat_score"] += csat_normalized(r.score, r.lo, r.hi)
        else:
            c["ces_responses"] += 1
            normalized = ces_normalized(r.score, r.lo, r.hi, r.polarity)
            c["ces_easy"] += ces_is_easy(normalized)
            c["ces_score"] += normalized
    return c


def figures(c: dict[str, float]) -> dict[str, float | None]:
    return {
        "nps": nps(promoters=c["nps_promoters"], passives=c["nps_passives"], detractors=c["nps_detractors"]),
        "csat": csat(satisfied=c["csat_satisfied"], responses=c["csat_responses"]),
        "csat_mean": mean_score(total=c["csat_score"], count=c["csat_responses"]),
        "ces_mean": mean_score(total=c["ces_score"], count=c["ces_responses"]),
        "ces_easy_rate": ces_easy_rate(easy=c["ces_easy"], responses=c["ces_responses"]),
    }


def reference(rs: list[Response]) -> dict[str, float | None]:
    """Straight from the raw answers, written independently of the counters."""
    n = [r for r in rs if r.survey_type == "nps"]
    cs = [r for r in rs if r.survey_type == "csat"]
    ce = [r for r in rs if r.survey_type == "ces"]
    top = {(1, 5): 4, (1, 7): 6, (0, 10): 9, (1, 10): 9, (0, 1): 1}

    def ces_value(r):
        x = (r.score - r.lo) / (r.hi - r.lo)
        return 1 + 6 * (x if r.polarity == "higher_is_better" else 1 - x)

    return {
        "nps": (100 * fmean(r.score >= 9 for r in n) - 100 * fmean(r.score <= 6 for r in n)) if n else None,
        "csat": fmean(r.score >= top[(r.lo, r.hi)] for r in cs) if cs else None,
        "csat_mean": fmean(1 + 4 * (r.score - r.lo) / (r.hi - r.lo) for r in cs) if cs else None,
        "ces_mean": fmean(ces_value(r) for r in ce) if ce else None,
        "ces_easy_rate": fmean(ces_value(r) >= 5 for r in ce) if ce else None,
    }


@hyp_settings(max_examples=300, deadline=None)
@given(st.lists(responses(), max_size=50), st.lists(responses(), max_size=50))
def test_summing_two_buckets_equals_computing_over_all_responses(a, b):
    ca, cb = bucket(a), bucket(b)
    merged = {key: ca[key] + cb[key] for key in ca}
    got, want = figures(merged), reference(a + b)
    assert got.keys() == want.keys()
    for key in want:
        if want[key] is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(want[key], abs=1e-9), key


def test_averaging_bucket_nps_would_be_wrong():
    # bucket A: 1 detractor (NPS -100); bucket B: 9 promoters (NPS +100).
    # The mean of the two scores says 0; over the 10 answers the NPS is 80.
    a, b = bucket([Response("nps", 2, 0, 10)]), bucket([Response("nps", 10, 0, 10)] * 9)
    assert fmean([figures(a)["nps"], figures(b)["nps"]]) == 0.0
    assert figures({k: a[k] + b[k] for k in a})["nps"] == pytest.approx(80.0)
