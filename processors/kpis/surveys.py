"""Survey KPIs (NPS, CSAT, CES, response rate) from summed counters. Pure: no clock, no I/O.

Same conventions as ``processors/kpis/calls.py`` and ``docs/kpis.md``: ratios are 0–1,
``None`` means "no data" (zero responses is not an NPS of 0), negative or non-finite
counters raise ``ValueError``. Each KPI is computed from *sums* of counters, so a
window, several queues or several touchpoints combine exactly:

* the worker classifies **one response** with the per-response helpers
  (:func:`classify_nps`, :func:`csat_is_satisfied`, :func:`csat_normalized`,
  :func:`ces_normalized`, :func:`ces_is_easy`) and adds 1 to the matching counters
  (``nps_promoters``, ``csat_satisfied``, ``ces_easy``, ...) and the normalised score
  to the score sums;
* the exporter turns summed counters into figures with :func:`nps`, :func:`csat`,
  :func:`mean_score`, :func:`ces_easy_rate`, :func:`response_rate`.

Scale and polarity travel with each ``survey.response`` (the seeds disagree on both,
catalog §6 items 1, 5 and 6), so every response is normalised *before* it is summed:
a 1–10 NPS answer, a yes/no CSAT answer and a negatively-worded 1–5 CES answer all
land in the same counters as their 0–10, 1–5 and 1–7 cousins.

Survey figures need volume to mean anything (catalog §0.3 "DAY" window class and §7:
"minimum sample size for survey KPIs"): :func:`meaningful` compares a sample to
``survey_min_sample`` (default 30), and every figure is published with its count.
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable, Literal, Mapping, Sequence

from processors.kpis.calls import _check, _share, ratio

NpsClass = Literal["promoter", "passive", "detractor"]
Polarity = Literal["higher_is_better", "lower_is_better"]

# NPS bands: (lower bound, label) pairs; a score belongs to the highest band whose
# bound it *strictly* exceeds (003: « supérieur à 0 est bon, … supérieur à 20 est
# favorable et supérieur à 50 est excellent »; 004: « supérieur à 0 … bon, et au-dessus
# de 50 comme excellent »). A score at or under the lowest bound gets NPS_BELOW_BANDS.
NPS_BANDS: dict[str, tuple[tuple[float, str], ...]] = {
    "seed003": ((0, "bon"), (20, "favorable"), (50, "excellent")),
    "seed004": ((0, "bon"), (50, "excellent")),
}
NPS_BELOW_BANDS = "à améliorer"

# Scales an NPS answer may come on: 0–10 (001, 003, 004, 002's text) and 1–10
# (000's question, 002's quoted question). Classes are the same on both.
NPS_SCALES: frozenset[tuple[int, int]] = frozenset({(0, 10), (1, 10)})

# One-letter codes for the "last N responses" list the worker keeps (see nps_from_last).
NPS_CLASS_CODES: dict[str, str] = {"promoter": "p", "passive": "s", "detractor": "d"}

# 004: « Un bon CSAT se situe généralement entre 75% et 85% … Les services de livraison
# en ligne, par exemple, visent souvent un CSAT supérieur à 90% » (catalog TV14).
CSAT_GOOD_RANGE: tuple[float, float] = (0.75, 0.85)
CSAT_DELIVERY_TARGET = 0.90

# Normalised ranges the score sums are kept in (docs/metrics-contract.md).
CSAT_NORMALIZED_RANGE: tuple[float, float] = (1.0, 5.0)
CES_NORMALIZED_RANGE: tuple[float, float] = (1.0, 7.0)
CES_DEFAULT_EASY_THRESHOLD = 5.0

POLARITIES: tuple[str, ...] = ("higher_is_better", "lower_is_better")

# KPI name (the ``/api/kpis`` field under ``windows.<window>.kpis``) -> what it is,
# its unit and the windowed Prometheus gauge that carries it. ``nps_band`` is an
# API-only label derived from ``nps``: it has no series of its own (``metric`` is "").
SURVEY_KPIS: dict[str, dict[str, str]] = {
    "nps": {
        "description": "Net Promoter Score: % promoters (9-10) minus % detractors (0-6), from -100 to +100",
        "unit": "score",
        "metric": "cx_nps_score",
    },
    "nps_band": {
        "description": "NPS band label (seed 003 or 004 bands, strict >); derived from nps, API only",
        "unit": "band",
        "metric": "",
    },
    "csat": {
        "description": "CSAT: share of responses in the satisfied set of their scale (top-two-box on 1-5)",
        "unit": "ratio",
        "metric": "cx_csat_ratio",
    },
    "csat_mean": {
        "description": "Mean CSAT score, every scale normalised linearly to 1-5",
        "unit": "score",
        "metric": "cx_csat_mean_score",
    },
    "ces_mean": {
        "description": "Mean CES score, normalised to 1-7 with 7 = easiest whatever the wording",
        "unit": "score",
        "metric": "cx_ces_mean_score",
    },
    "ces_easy_rate": {
        "description": "Share of CES responses at or above the easy threshold on the 1-7 scale",
        "unit": "ratio",
        "metric": "cx_ces_easy_ratio",
    },
    "response_rate": {
        "description": "Survey responses / surveys sent, per survey type",
        "unit": "ratio",
        "metric": "cx_survey_response_ratio",
    },
}


# --------------------------------------------------------------------------- helpers


def _number(name: str, value: float) -> float:
    """A finite real number (may be negative: a raw score before its scale is checked)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _scale(scale_min: int, scale_max: int) -> tuple[int, int]:
    """Scale bounds are integers with min < max."""
    for name, value in (("scale_min", scale_min), ("scale_max", scale_max)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if scale_min >= scale_max:
        raise ValueError(f"scale_min must be below scale_max, got {scale_min}-{scale_max}")
    return int(scale_min), int(scale_max)


def _on_scale(score: float, scale_min: int, scale_max: int, *, whole: bool) -> float:
    """The score, checked to lie on its scale (and to be a whole answer if ``whole``)."""
    score = _number("score", score)
    if whole and not score.is_integer():
        raise ValueError(f"score must be a whole answer on its scale, got {score!r}")
    if not scale_min <= score <= scale_max:
        raise ValueError(f"score {score!r} is outside its scale {scale_min}-{scale_max}")
    return score


# --------------------------------------------------------------------------- NPS


def classify_nps(score: float, scale_min: int, scale_max: int) -> NpsClass:
    """Promoter (9–10), passive (7–8) or detractor (≤ 6) for one NPS answer (TV12).

    002, 003 and 004 ask on 0–10 (« Promoteurs (9-10) », « Passifs (7-8) »,
    « Détracteurs (0-6) », 004); 000 asks « de 1 à 10 » and calls « les notes de 6 et
    moins » detractors, and 002's quoted question also says 1 à 10 (catalog §6 item 1).
    The cut-offs are the same on both scales (1–6 are still detractors), so both are
    accepted as they are, with no rescaling: rescaling 1–10 to 0–10 would move answers
    across the 6/7 and 8/9 boundaries. Any other scale is not an NPS question and a
    fractional or off-scale score is a producer bug: both raise ``ValueError``.
    """
    lo, hi = _scale(scale_min, scale_max)
    if (lo, hi) not in NPS_SCALES:
        raise ValueError(f"NPS answers are on 0-10 or 1-10, got {lo}-{hi}")
    score = _on_scale(score, lo, hi, whole=True)
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


def nps(*, promoters: float, passives: float, detractors: float) -> float | None:
    """NPS = 100 × (promoters − detractors) / (promoters + passives + detractors).

    003 and 004: « NPS = Pourcentage de Promoteurs – Pourcentage de Détracteurs », from
    −100 (all detractors) to +100 (all promoters) (TV3, TV10). Passives count in the
    denominator only. The result is a score, not a ratio: 003's example writes « 30 % »
    for what is an NPS of 30.

    Percentages, not counts: 000's « Soustrayez … les notes de 6 et moins … de celles
    de 9 ou 10 » read as a difference of *counts* agrees with this only when exactly 100
    people answered (catalog D9: 100/60/40 out of 200 gives 60 by counts, 30 here), and
    a count difference grows with volume, so it can be neither banded nor compared.
    Summed counters make this exact over any window, queue or touchpoint.
    """
    promoters = _check("promoters", promoters)
    passives = _check("passives", passives)
    detractors = _check("detractors", detractors)
    total = promoters + passives + detractors
    if total == 0:
        return None
    return 100.0 * (promoters - detractors) / total


def nps_from_last(classes: Iterable[str]) -> float | None:
    """NPS over the last N responses, from their one-letter classes.

    ``classes`` holds ``"p"`` (promoter), ``"s"`` (passive) and ``"d"`` (detractor), as the
    worker keeps them in a capped list of the last ``nps_last_n`` responses per segment
    (:data:`NPS_CLASS_CODES`); a plain string such as ``"ppsd"`` works too. Windows of
    a few hours hold too few survey answers on a quiet queue, so a "last N" figure gives
    a steadier live NPS (004: « Le NPS capture un instant T, pas l'évolution »). Empty
    -> ``None``; any other code raises ``ValueError``.
    """
    counts = {"p": 0, "s": 0, "d": 0}
    for code in classes:
        if code not in counts:
            raise ValueError(f"NPS class codes are 'p', 's' and 'd', got {code!r}")
        counts[code] += 1
    return nps(promoters=counts["p"], passives=counts["s"], detractors=counts["d"])


def nps_band(
    score: float | None,
    bands: Sequence[tuple[float, str]],
    below: str = NPS_BELOW_BANDS,
) -> str | None:
    """The label of the highest band whose lower bound the NPS *strictly* exceeds.

    Seed 003 (TV4): « Tout résultat supérieur à 0 est bon, tout résultat supérieur à 20
    est favorable et supérieur à 50 est excellent »; seed 004 (TV11) has no 20 band and
    adds that a good NPS « varie selon l'industrie » (catalog §6 item 3), hence
    :data:`NPS_BANDS` ``seed003`` (default ``nps_band_set``), ``seed004`` and a custom set.
    « supérieur à » is strict: 0 is not « bon », 20 is « bon » and not « favorable »,
    50 is not « excellent ». At or under the lowest bound the label is ``below``.
    ``bands`` may come in any order (settings are user-written); two bands with the
    same bound are ambiguous and raise ``ValueError``. ``None`` (no data) -> ``None``.
    """
    if score is None:
        return None
    score = _number("score", score)
    if not -100.0 <= score <= 100.0:
        raise ValueError(f"an NPS lies in -100..100, got {score!r}")
    ordered = sorted((_number("band bound", bound), str(label)) for bound, label in bands)
    bounds = [bound for bound, _ in ordered]
    if len(set(bounds)) != len(bounds):
        raise ValueError(f"NPS bands must have distinct bounds, got {list(bands)}")
    label = below
    for bound, name in ordered:
        if score > bound:
            label = name
    return label


def nps_bands_for(
    band_set: str, custom_bands: Sequence[tuple[float, str]] = ()
) -> tuple[tuple[float, str], ...]:
    """The bands ``nps_band_set`` names: ``seed003``, ``seed004`` or ``custom``.

    ``custom`` returns ``nps_custom_bands`` (sorted); an unknown set raises ``ValueError``.
    """
    if band_set == "custom":
        return tuple(sorted((float(bound), str(label)) for bound, label in custom_bands))
    try:
        return NPS_BANDS[band_set]
    except KeyError:
        raise ValueError(f"nps_band_set must be one of seed003, seed004, custom; got {band_set!r}") from None


# --------------------------------------------------------------------------- CSAT


def csat_is_satisfied(
    score: float, scale_min: int, scale_max: int, satisfied: Mapping[str, Sequence[int]]
) -> bool:
    """True if one CSAT answer is in the satisfied set of its scale (setting ``csat_satisfied``).

    004 is the only seed with a formula: « CSAT = (Nombre de réponses « Satisfait » et
    « Très satisfait » / Nombre total de réponses) x 100 », i.e. top-two-box on its 1–5
    scale, or « oui » on yes/no. The other seeds ask on 1–5 (000) or 1–10 (001, 002) and
    never say which 10-point answers are "satisfied" (catalog §6 item 5), so the set is
    configured per ``"min-max"`` scale key: defaults ``1-5``: 4, 5; ``1-7``: 6, 7;
    ``0-10``/``1-10``: 9, 10; ``0-1`` (yes/no): 1. A scale with no entry cannot be
    judged and raises ``ValueError`` naming the setting, rather than guessing.
    """
    lo, hi = _scale(scale_min, scale_max)
    key = f"{lo}-{hi}"
    if key not in satisfied:
        raise ValueError(
            f"no satisfied answers configured for CSAT scale {key!r}: add it to the setting "
            f"csat_satisfied (CXPULSE_CSAT_SATISFIED), which has {sorted(satisfied)}"
        )
    score = _on_scale(score, lo, hi, whole=True)
    return score in {float(value) for value in satisfied[key]}


def csat_normalized(score: float, scale_min: int, scale_max: int) -> float:
    """One CSAT answer mapped linearly onto 1–5 (min -> 1, max -> 5), for the mean score.

    The industry reference says some tools report the mean instead of the top-box share:
    "Keep both". Scales differ (1–5, 1–10, yes/no), so scores are put on 004's 1–5
    scale before being summed (``cx_csat_score_total``); a yes/no answer becomes 1 or 5.
    """
    lo, hi = _scale(scale_min, scale_max)
    score = _on_scale(score, lo, hi, whole=False)
    return 1.0 + 4.0 * (score - lo) / (hi - lo)


def csat(*, satisfied: float, responses: float) -> float | None:
    """CSAT = satisfied responses / responses, a 0–1 share (004's formula without × 100).

    Both counters are incremented by the same ``survey.response``, so ``satisfied`` more
    than ``responses`` is a bug and raises ``ValueError``. 004: a good CSAT is 75–85 %
    (:func:`csat_band`).
    """
    return _share("satisfied", satisfied, "responses", responses)


def mean_score(*, total: float, count: float) -> float | None:
    """Mean of summed normalised scores: ``total / count``; ``None`` with no responses.

    Used for the CSAT mean (1–5) and the CES mean (1–7): 004's « score moyen ». Summing
    scores and counts, then dividing, is exact across buckets, unlike averaging means.
    """
    total = _check("total", total)
    count = _check("count", count)
    if count == 0:
        return None
    return total / count


def csat_band(ratio: float | None) -> str | None:  # the parameter shadows ratio() here only
    """``below`` / ``good`` / ``above`` the 75–85 % range 004 calls a good CSAT (TV14).

    004: « Un bon CSAT se situe généralement entre 75% et 85% ». Both ends are in the
    range (0.75 and 0.85 are "good"). 004 adds that online delivery services aim above
    90 % (:data:`CSAT_DELIVERY_TARGET`), a sector target to configure as a threshold, not
    a band. ``None`` (no data) -> ``None``.
    """
    if ratio is None:
        return None
    value = _check("ratio", ratio)
    if value > 1:
        raise ValueError(f"a CSAT ratio lies in 0..1, got {value!r}")
    low, high = CSAT_GOOD_RANGE
    if value < low:
        return "below"
    if value > high:
        return "above"
    return "good"


# --------------------------------------------------------------------------- CES


def ces_normalized(score: float, scale_min: int, scale_max: int, polarity: Polarity) -> float:
    """One CES answer mapped linearly onto 1–7 with **7 = easiest**, whatever the wording.

    The seeds disagree on scale and direction (catalog §6 item 6): 000 asks how easy
    (high = easy), 002 runs « Très faible effort » → « Très grand effort » (high = more
    effort), 004 offers 1–7 « Très difficile à Très facile » *or* 1–5 agreement with
    « J'ai dû déployer beaucoup d'efforts… », then says « Un score moyen plus élevé
    indique une meilleure expérience », which is false for its own 1–5 variant. So each
    response carries its ``polarity``: ``higher_is_better`` (high = easy) maps min -> 1
    and max -> 7; ``lower_is_better`` (high = effort) maps min -> 7 and max -> 1. After
    that a higher mean really is a better experience. 1–7 is CES 2.0's scale (industry
    reference); 1–5 answers are stretched onto it (1, 2.5, 4, 5.5, 7).
    """
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    lo, hi = _scale(scale_min, scale_max)
    score = _on_scale(score, lo, hi, whole=False)
    position = (score - lo) / (hi - lo)
    if polarity == "lower_is_better":
        position = 1.0 - position
    return 1.0 + 6.0 * position


def ces_is_easy(normalized: float, threshold: float = CES_DEFAULT_EASY_THRESHOLD) -> bool:
    """True if a normalised (1–7) CES answer is at or above ``threshold`` (``ces_easy_threshold``).

    The default 5 makes "easy" the top three answers of CES 2.0's 1–7 agreement scale
    ("somewhat agree" or better); on a 1–5 scale that is 4 and 5 (4 -> 5.5) for the
    easy wording, 1 and 2 for the effort wording. No seed gives a CES threshold (000
    only says an « anormalement bas » CES is bad), so this is a cxpulse default.
    """
    normalized = _number("normalized", normalized)
    threshold = _number("threshold", threshold)
    low, high = CES_NORMALIZED_RANGE
    if not low <= normalized <= high:
        raise ValueError(f"a normalised CES lies in 1..7, got {normalized!r}")
    if not low <= threshold <= high:
        raise ValueError(f"the CES easy threshold lies in 1..7, got {threshold!r}")
    return normalized >= threshold


def ces_easy_rate(*, easy: float, responses: float) -> float | None:
    """Share of CES responses judged easy: ``easy / responses`` (same event: ``easy`` ⊆ responses).

    The catalog (M03) suggests an "easy" top-box share beside the mean: a mean hides
    a split between delighted and stuck customers.
    """
    return _share("easy", easy, "responses", responses)


# --------------------------------------------------------------------------- volume


def response_rate(*, responses: float, sent: float) -> float | None:
    """Survey response rate: ``responses / sent`` (M05), capped at 1.

    004 lists « Participation aux enquêtes (NPS, CSAT, CES) » as a health signal (« Un
    manque de réponse peut indiquer un désengagement ») without a formula; responses
    ÷ surveys sent is the industry reading. ``survey.sent`` and ``survey.response`` are
    different events, hours or days apart, so in a short window responses to surveys sent
    earlier can outnumber the sends: a cross-event share, capped at 1 like those in
    ``calls.py``. Read it over long windows (7d, 30d).
    """
    return ratio(_check("responses", responses), _check("sent", sent))


def meaningful(sample: float, min_sample: int) -> bool:
    """True if ``sample`` responses are enough to read a survey figure (``survey_min_sample``).

    No seed gives a minimum (catalog §7 asks for one); the default 30 is a cxpulse
    choice: with fewer, one answer moves a CSAT by more than 3 points and an NPS by
    more than 3–6. The figure is still published, with its count, but alerts and the
    wall treat it as not meaningful.
    """
    sample = _check("sample", sample)
    if isinstance(min_sample, bool) or not isinstance(min_sample, numbers.Integral) or min_sample < 1:
        raise ValueError(f"min_sample must be a positive integer, got {min_sample!r}")
    return sample >= min_sample
