"""Call KPIs from summed counters: hand-computed vectors, modes, edge cases, and
properties showing that summing bucket counters is exact (never an average of ratios)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from cxpulse.settings import AbandonRateMode, ServiceLevelMode
from processors.kpis.calls import (
    CALL_KPIS,
    CALL_LIVE,
    abandon_rate,
    answer_rate,
    average_handle_time,
    average_speed_of_answer,
    fcr_agent_flag,
    fcr_repeat_contact,
    is_short_abandon,
    longest_wait,
    ratio,
    repeat_contact_rate,
    service_level,
    transfer_rate,
    within_threshold,
)

AGAINST = ServiceLevelMode.ABANDONS_AGAINST
IGNORED = ServiceLevelMode.ABANDONS_IGNORED
POSITIVE = ServiceLevelMode.ABANDONS_POSITIVE

# --------------------------------------------------------------------------- ratio


def test_ratio_plain_and_zero_denominator():
    assert ratio(1, 4) == 0.25
    assert ratio(0, 4) == 0.0
    assert ratio(0, 0) is None
    assert ratio(5, 0) is None


def test_ratio_caps_cross_event_skew_at_one():
    # 3 answers in a window whose matching offers fell just before it: 3/2 -> 1.0
    assert ratio(3, 2) == 1.0


@pytest.mark.parametrize("num, den", [(-1, 4), (1, -4), (math.nan, 1), (1, math.inf), (True, 2), ("1", 2)])
def test_ratio_rejects_bad_inputs(num, den):
    with pytest.raises(ValueError):
        ratio(num, den)


# --------------------------------------------------------------------------- abandon / answer rate


def test_abandon_rate_worked_example():
    # 100 offered, 10 abandoned of which 3 short (hung up within 5 s):
    #   exclude_short: (10 - 3) / (100 - 3) = 7/97 = 0.0721649...
    #   include_short: 10 / 100 = 0.10
    assert abandon_rate(offered=100, abandoned=10, short_abandoned=3) == pytest.approx(7 / 97)
    assert abandon_rate(
        offered=100, abandoned=10, short_abandoned=3, mode=AbandonRateMode.EXCLUDE_SHORT
    ) == pytest.approx(0.0721649484536)
    assert abandon_rate(
        offered=100, abandoned=10, short_abandoned=3, mode=AbandonRateMode.INCLUDE_SHORT
    ) == pytest.approx(0.10)


def test_abandon_rate_accepts_mode_as_string_value():
    assert abandon_rate(offered=100, abandoned=10, short_abandoned=3, mode="include_short") == pytest.approx(0.1)
    with pytest.raises(ValueError):
        abandon_rate(offered=100, abandoned=10, short_abandoned=3, mode="sometimes")


def test_abandon_rate_no_data_is_none_not_zero():
    assert abandon_rate(offered=0, abandoned=0, short_abandoned=0) is None
    assert abandon_rate(offered=0, abandoned=0, short_abandoned=0, mode=AbandonRateMode.INCLUDE_SHORT) is None
    # every offered call was a short abandon: nothing left to judge
    assert abandon_rate(offered=4, abandoned=4, short_abandoned=4) is None
    assert abandon_rate(offered=4, abandoned=4, short_abandoned=4, mode=AbandonRateMode.INCLUDE_SHORT) == 1.0


def test_abandon_rate_all_answered_is_zero():
    assert abandon_rate(offered=50, abandoned=0, short_abandoned=0) == 0.0


def test_abandon_rate_clamps_window_edge_skew():
    # 2 offered in the window, but 3 abandons (one of a call offered before it), 2 short:
    # exclude_short numerator 1, denominator max(2 - 2, 0) = 0 -> None
    assert abandon_rate(offered=2, abandoned=3, short_abandoned=2) is None
    # 1 offered, 3 abandoned, 0 short: 3/1 capped to 1
    assert abandon_rate(offered=1, abandoned=3, short_abandoned=0) == 1.0
    # offered 3, abandoned 4, short 2: (4-2)/(3-2) = 2 -> capped to 1
    assert abandon_rate(offered=3, abandoned=4, short_abandoned=2) == 1.0


def test_abandon_rate_rejects_inconsistent_or_negative():
    with pytest.raises(ValueError, match="short_abandoned"):
        abandon_rate(offered=10, abandoned=2, short_abandoned=3)  # short abandons are abandons
    with pytest.raises(ValueError):
        abandon_rate(offered=-1, abandoned=0, short_abandoned=0)
    with pytest.raises(ValueError):
        abandon_rate(offered=10, abandoned=math.nan, short_abandoned=0)


def test_answer_rate():
    # 100 offered, 85 answered (10 abandoned, 5 still waiting): 0.85, not 1 - abandon rate
    assert answer_rate(offered=100, answered=85) == pytest.approx(0.85)
    assert answer_rate(offered=0, answered=0) is None
    assert answer_rate(offered=2, answered=3) == 1.0  # window-edge skew
    with pytest.raises(ValueError):
        answer_rate(offered=10, answered=-1)


# --------------------------------------------------------------------------- service level

# Worked example, T = 20 s, short-abandon threshold 5 s:
#   answered 80, of which 60 within 20 s
#   abandoned 20, of which 12 within 20 s and 5 short (within 5 s)
# against : 60 / (80 + 20 - 5)        = 60/95  = 0.631578947...
# ignored : 60 / 80                   = 0.75
# positive: (60 + 12) / (80 + 20)     = 72/100 = 0.72
SL_EXAMPLE = dict(answered=80, answered_within=60, abandoned=20, abandoned_within=12, short_abandoned=5)


@pytest.mark.parametrize(
    "mode, expected",
    [(AGAINST, 60 / 95), (IGNORED, 0.75), (POSITIVE, 0.72), ("abandons_positive", 0.72)],
)
def test_service_level_worked_example(mode, expected):
    assert service_level(**SL_EXAMPLE, mode=mode) == pytest.approx(expected)


def test_service_level_default_mode_is_abandons_against():
    assert service_level(**SL_EXAMPLE) == pytest.approx(0.631578947368)


def test_service_level_no_abandons_all_modes_agree():
    # 40 answered, 30 within T, no abandons: 0.75 whichever mode
    for mode in ServiceLevelMode:
        got = service_level(
            answered=40, answered_within=30, abandoned=0, abandoned_within=0, short_abandoned=0, mode=mode
        )
        assert got == pytest.approx(0.75)


def test_service_level_zero_denominators():
    zero = dict(answered=0, answered_within=0, abandoned=0, abandoned_within=0, short_abandoned=0)
    for mode in ServiceLevelMode:
        assert service_level(**zero, mode=mode) is None
    # only short abandons: against has nothing to judge, ignored has no answers,
    # positive counts them (abandoned within T) as successes
    only_short = dict(answered=0, answered_within=0, abandoned=3, abandoned_within=3, short_abandoned=3)
    assert service_level(**only_short, mode=AGAINST) is None
    assert service_level(**only_short, mode=IGNORED) is None
    assert service_level(**only_short, mode=POSITIVE) == 1.0
    # only long abandons: against -> 0/2 = 0, positive -> 0/2 = 0
    only_long = dict(answered=0, answered_within=0, abandoned=2, abandoned_within=0, short_abandoned=0)
    assert service_level(**only_long, mode=AGAINST) == 0.0
    assert service_level(**only_long, mode=POSITIVE) == 0.0


@pytest.mark.parametrize(
    "bad",
    [
        dict(answered=10, answered_within=11, abandoned=0, abandoned_within=0, short_abandoned=0),
        dict(answered=10, answered_within=5, abandoned=2, abandoned_within=3, short_abandoned=0),
        dict(answered=10, answered_within=5, abandoned=2, abandoned_within=0, short_abandoned=3),
        dict(answered=-1, answered_within=0, abandoned=0, abandoned_within=0, short_abandoned=0),
        dict(answered=10, answered_within=5, abandoned=0, abandoned_within=0, short_abandoned=-0.5),
        dict(answered=math.inf, answered_within=5, abandoned=0, abandoned_within=0, short_abandoned=0),
    ],
)
def test_service_level_rejects_inconsistent_inputs(bad):
    for mode in ServiceLevelMode:
        with pytest.raises(ValueError):
            service_level(**bad, mode=mode)


def test_service_level_unknown_mode():
    with pytest.raises(ValueError):
        service_level(**SL_EXAMPLE, mode="abandons_sideways")


# --------------------------------------------------------------------------- ASA, AHT, transfers


def test_average_speed_of_answer():
    # waits 10 + 20 + 60 = 90 s over 3 answered -> 30 s
    assert average_speed_of_answer(answer_wait_seconds=90, answered=3) == 30.0
    assert average_speed_of_answer(answer_wait_seconds=0, answered=5) == 0.0
    assert average_speed_of_answer(answer_wait_seconds=0, answered=0) is None
    with pytest.raises(ValueError):
        average_speed_of_answer(answer_wait_seconds=-1, answered=3)


@pytest.mark.parametrize(
    "components, expected",
    [
        # talk 3000 + hold 600 + acw 900 = 4500 s over 20 handled -> 225 s
        (("talk", "hold", "acw"), 225.0),
        (["acw", "talk", "hold"], 225.0),  # order does not matter
        (("talk", "hold"), 180.0),  # (3000 + 600) / 20
        (("talk",), 150.0),  # 3000 / 20
        (("talk", "acw"), 195.0),  # (3000 + 900) / 20
        (("talk", "talk", "hold"), 180.0),  # a repeated name counts once
    ],
)
def test_average_handle_time_components(components, expected):
    got = average_handle_time(talk_seconds=3000, hold_seconds=600, acw_seconds=900, handled=20, components=components)
    assert got == pytest.approx(expected)


def test_average_handle_time_default_is_talk_hold_acw():
    assert average_handle_time(talk_seconds=3000, hold_seconds=600, acw_seconds=900, handled=20) == 225.0


def test_average_handle_time_none_and_errors():
    assert average_handle_time(talk_seconds=0, hold_seconds=0, acw_seconds=0, handled=0) is None
    for bad in ((), ("talk", "queue_wait"), "talk"):
        with pytest.raises(ValueError):
            average_handle_time(talk_seconds=1, hold_seconds=1, acw_seconds=1, handled=1, components=bad)
    with pytest.raises(ValueError):
        average_handle_time(talk_seconds=1, hold_seconds=-1, acw_seconds=1, handled=1)


def test_transfer_rate():
    # 40 handled, 6 transferred at least once -> 0.15
    assert transfer_rate(transferred=6, handled=40) == pytest.approx(0.15)
    assert transfer_rate(transferred=0, handled=0) is None
    with pytest.raises(ValueError):
        transfer_rate(transferred=7, handled=6)  # both counted on call.completed


# --------------------------------------------------------------------------- FCR


def test_fcr_agent_flag():
    # 50 calls carry a flag, 36 resolved -> 0.72 (unflagged calls are in neither count)
    assert fcr_agent_flag(resolved=36, flagged=50) == pytest.approx(0.72)
    assert fcr_agent_flag(resolved=0, flagged=0) is None
    with pytest.raises(ValueError):
        fcr_agent_flag(resolved=51, flagged=50)


def test_repeat_contact_rate_and_fcr_repeat_contact():
    # 200 eligible calls; 30 were repeats of an earlier one; 40 were followed by a repeat
    # repeat-contact share 30/200 = 0.15; FCR = 1 - 40/200 = 0.80 (SQM's "world class")
    assert repeat_contact_rate(repeat_contacts=30, eligible=200) == pytest.approx(0.15)
    assert fcr_repeat_contact(followed_by_repeat=40, eligible=200) == pytest.approx(0.80)
    assert fcr_repeat_contact(followed_by_repeat=0, eligible=10) == 1.0
    assert fcr_repeat_contact(followed_by_repeat=10, eligible=10) == 0.0
    assert repeat_contact_rate(repeat_contacts=0, eligible=0) is None
    assert fcr_repeat_contact(followed_by_repeat=0, eligible=0) is None
    with pytest.raises(ValueError):
        fcr_repeat_contact(followed_by_repeat=11, eligible=10)
    with pytest.raises(ValueError):
        repeat_contact_rate(repeat_contacts=11, eligible=10)
    with pytest.raises(ValueError):
        repeat_contact_rate(repeat_contacts=-1, eligible=10)


# --------------------------------------------------------------------------- per-event helpers


def test_is_short_abandon_boundary_is_exclusive():
    assert is_short_abandon(4.9, 5)
    assert not is_short_abandon(5.0, 5)
    assert not is_short_abandon(5.01, 5)
    # a threshold of 0 switches short abandons off
    assert not is_short_abandon(0, 0)
    assert not is_short_abandon(0.1, 0)
    with pytest.raises(ValueError):
        is_short_abandon(-1, 5)
    with pytest.raises(ValueError):
        is_short_abandon(1, math.nan)


def test_within_threshold_boundary_is_inclusive():
    assert within_threshold(19.99, 20)
    assert within_threshold(20, 20)
    assert not within_threshold(20.001, 20)
    with pytest.raises(ValueError):
        within_threshold(-0.1, 20)


def test_longest_wait():
    assert longest_wait(1_000_000.0, None) == 0.0
    assert longest_wait(1_000_000.0, 999_925.0) == 75.0
    assert longest_wait(1_000_000.0, 1_000_000.0) == 0.0
    assert longest_wait(1_000_000.0, 1_000_003.0) == 0.0  # producer clock ahead: never negative
    with pytest.raises(ValueError):
        longest_wait(math.nan, None)
    with pytest.raises(ValueError):
        longest_wait(1.0, math.inf)


def test_catalog_names_match_the_api():
    assert set(CALL_KPIS) == {
        "abandon_rate",
        "answer_rate",
        "service_level",
        "asa_seconds",
        "aht_seconds",
        "transfer_rate",
        "fcr_agent_flag",
        "fcr_repeat_contact",
        "repeat_contact_rate",
    }
    assert set(CALL_LIVE) == {"waiting", "longest_wait_seconds"}
    for entry in (*CALL_KPIS.values(), *CALL_LIVE.values()):
        assert entry["description"] and "\n" not in entry["description"]
        assert entry["unit"] in {"ratio", "seconds", "calls"}
        assert entry["metric"].startswith("cx_")


# --------------------------------------------------------------------------- aggregation is exact

T = 20.0
SHORT = 5.0


@dataclass(frozen=True)
class RawCall:
    """One call's whole life, all in one bucket (a tiny reference model)."""

    outcome: str  # "answered" | "abandoned" | "waiting"
    wait: float
    completed: bool = False  # wrap-up done (only for answered calls)
    talk: float = 0.0
    hold: float = 0.0
    acw: float = 0.0
    transfers: int = 0
    resolved: bool | None = None
    eligible: bool = False
    repeat: bool = False
    followed: bool = False


def counters_of(calls: list[RawCall]) -> dict[str, float]:
    """What the worker adds to a bucket, one event at a time (mirrors processors/fold.py)."""
    c = dict.fromkeys(
        (
            "offered answered answered_within_sl answer_wait_seconds abandoned short_abandoned "
            "abandoned_within_sl handled talk_seconds hold_seconds acw_seconds transferred "
            "fcr_flagged fcr_resolved fcr_eligible repeat_contacts followed_by_repeat"
        ).split(),
        0.0,
    )
    for call in calls:
        c["offered"] += 1
        if call.outcome == "answered":
            c["answered"] += 1
            c["answer_wait_seconds"] += call.wait
            c["answered_within_sl"] += within_threshold(call.wait, T)
        elif call.outcome == "abandoned":
            c["abandoned"] += 1
            c["short_abandoned"] += is_short_abandon(call.wait, SHORT)
            c["abandoned_within_sl"] += within_threshold(call.wait, T)
        if call.completed:
            c["handled"] += 1
            c["talk_seconds"] += call.talk
            c["hold_seconds"] += call.hold
            c["acw_seconds"] += call.acw
            c["transferred"] += call.transfers > 0
            if call.resolved is not None:
                c["fcr_flagged"] += 1
                c["fcr_resolved"] += call.resolved
            if call.eligible:
                c["fcr_eligible"] += 1
                c["repeat_contacts"] += call.repeat
                c["followed_by_repeat"] += call.followed
    return c


def add(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {key: a[key] + b[key] for key in a}


def kpis_from_counters(c: dict[str, float]) -> dict[str, float | None]:
    sl = dict(
        answered=c["answered"],
        answered_within=c["answered_within_sl"],
        abandoned=c["abandoned"],
        abandoned_within=c["abandoned_within_sl"],
        short_abandoned=c["short_abandoned"],
    )
    ab = dict(offered=c["offered"], abandoned=c["abandoned"], short_abandoned=c["short_abandoned"])
    return {
        "abandon_exclude_short": abandon_rate(**ab, mode=AbandonRateMode.EXCLUDE_SHORT),
        "abandon_include_short": abandon_rate(**ab, mode=AbandonRateMode.INCLUDE_SHORT),
        "answer_rate": answer_rate(offered=c["offered"], answered=c["answered"]),
        "sl_against": service_level(**sl, mode=AGAINST),
        "sl_ignored": service_level(**sl, mode=IGNORED),
        "sl_positive": service_level(**sl, mode=POSITIVE),
        "asa": average_speed_of_answer(answer_wait_seconds=c["answer_wait_seconds"], answered=c["answered"]),
        "aht": average_handle_time(
            talk_seconds=c["talk_seconds"],
            hold_seconds=c["hold_seconds"],
            acw_seconds=c["acw_seconds"],
            handled=c["handled"],
        ),
        "aht_talk_hold": average_handle_time(
            talk_seconds=c["talk_seconds"],
            hold_seconds=c["hold_seconds"],
            acw_seconds=c["acw_seconds"],
            handled=c["handled"],
            components=("talk", "hold"),
        ),
        "transfer_rate": transfer_rate(transferred=c["transferred"], handled=c["handled"]),
        "fcr_agent_flag": fcr_agent_flag(resolved=c["fcr_resolved"], flagged=c["fcr_flagged"]),
        "repeat_contact_rate": repeat_contact_rate(repeat_contacts=c["repeat_contacts"], eligible=c["fcr_eligible"]),
        "fcr_repeat_contact": fcr_repeat_contact(
            followed_by_repeat=c["followed_by_repeat"], eligible=c["fcr_eligible"]
        ),
    }


def share(calls: list[RawCall], hit, among) -> float | None:
    pool = [call for call in calls if among(call)]
    return sum(1 for call in pool if hit(call)) / len(pool) if pool else None


def mean(values: list[float]) -> float | None:
    return fmean(values) if values else None


def reference_kpis(calls: list[RawCall]) -> dict[str, float | None]:
    """Each KPI stated per call, straight from its definition, with no counters at all."""
    answered = lambda c: c.outcome == "answered"  # noqa: E731
    abandoned = lambda c: c.outcome == "abandoned"  # noqa: E731
    short = lambda c: abandoned(c) and c.wait < SHORT  # noqa: E731
    within = lambda c: c.wait <= T  # noqa: E731
    done = [c for c in calls if c.completed]
    eligible = [c for c in done if c.eligible]
    return {
        "abandon_exclude_short": share(calls, lambda c: abandoned(c), lambda c: not short(c)),
        "abandon_include_short": share(calls, abandoned, lambda c: True),
        "answer_rate": share(calls, answered, lambda c: True),
        "sl_against": share(
            calls, lambda c: answered(c) and within(c), lambda c: answered(c) or (abandoned(c) and not short(c))
        ),
        "sl_ignored": share(calls, within, answered),
        "sl_positive": share(calls, within, lambda c: answered(c) or abandoned(c)),
        "asa": mean([c.wait for c in calls if answered(c)]),
        "aht": mean([c.talk + c.hold + c.acw for c in done]),
        "aht_talk_hold": mean([c.talk + c.hold for c in done]),
        "transfer_rate": share(done, lambda c: c.transfers > 0, lambda c: True),
        "fcr_agent_flag": share(done, lambda c: c.resolved is True, lambda c: c.resolved is not None),
        "repeat_contact_rate": share(eligible, lambda c: c.repeat, lambda c: True),
        "fcr_repeat_contact": share(eligible, lambda c: not c.followed, lambda c: True),
    }


def assert_same(got: dict[str, float | None], want: dict[str, float | None]) -> None:
    assert got.keys() == want.keys()
    for key in want:
        if want[key] is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-9), key


seconds = st.floats(min_value=0, max_value=3600, allow_nan=False, allow_infinity=False)


@st.composite
def raw_calls(draw) -> RawCall:
    outcome = draw(st.sampled_from(["answered", "answered", "abandoned", "waiting"]))
    # waits around the 5 s / 20 s boundaries, including exactly on them
    wait = draw(st.one_of(st.sampled_from([0.0, 5.0, 20.0]), st.floats(min_value=0, max_value=120)))
    if outcome != "answered" or not draw(st.booleans()):
        return RawCall(outcome=outcome, wait=wait)
    eligible = draw(st.booleans())
    return RawCall(
        outcome=outcome,
        wait=wait,
        completed=True,
        talk=draw(seconds),
        hold=draw(seconds),
        acw=draw(seconds),
        transfers=draw(st.integers(min_value=0, max_value=3)),
        resolved=draw(st.sampled_from([None, True, False])),
        eligible=eligible,
        repeat=eligible and draw(st.booleans()),
        followed=eligible and draw(st.booleans()),
    )


@hyp_settings(max_examples=300, deadline=None)
@given(st.lists(raw_calls(), max_size=40), st.lists(raw_calls(), max_size=40))
def test_summing_two_buckets_equals_computing_over_all_calls(bucket_a, bucket_b):
    merged = add(counters_of(bucket_a), counters_of(bucket_b))
    assert_same(kpis_from_counters(merged), reference_kpis(bucket_a + bucket_b))


@hyp_settings(max_examples=300, deadline=None)
@given(st.lists(raw_calls(), max_size=60))
def test_ratios_from_raw_calls_stay_in_unit_interval(calls):
    got = kpis_from_counters(counters_of(calls))
    for key, value in got.items():
        if value is not None and key not in ("asa", "aht", "aht_talk_hold"):
            assert 0.0 <= value <= 1.0, (key, value)
        elif value is not None:
            assert value >= 0.0


@st.composite
def consistent_counts(draw):
    """Counts as one window may see them: subsets hold, offered may lag (window-edge skew)."""
    n = st.integers(min_value=0, max_value=10_000)
    answered = draw(n)
    abandoned = draw(n)
    return dict(
        offered=draw(n),
        answered=answered,
        answered_within=draw(st.integers(min_value=0, max_value=answered)),
        abandoned=abandoned,
        abandoned_within=draw(st.integers(min_value=0, max_value=abandoned)),
        short_abandoned=draw(st.integers(min_value=0, max_value=abandoned)),
    )


@hyp_settings(max_examples=500, deadline=None)
@given(consistent_counts(), st.integers(min_value=0, max_value=10_000), st.data())
def test_every_ratio_in_unit_interval_for_consistent_counts(c, whole, data):
    part = data.draw(st.integers(min_value=0, max_value=whole))
    values = [
        abandon_rate(offered=c["offered"], abandoned=c["abandoned"], short_abandoned=c["short_abandoned"], mode=m)
        for m in AbandonRateMode
    ]
    values += [
        service_level(
            answered=c["answered"],
            answered_within=c["answered_within"],
            abandoned=c["abandoned"],
            abandoned_within=c["abandoned_within"],
            short_abandoned=c["short_abandoned"],
            mode=m,
        )
        for m in ServiceLevelMode
    ]
    values += [
        answer_rate(offered=c["offered"], answered=c["answered"]),
        ratio(c["answered"], c["offered"]),
        transfer_rate(transferred=part, handled=whole),
        fcr_agent_flag(resolved=part, flagged=whole),
        repeat_contact_rate(repeat_contacts=part, eligible=whole),
        fcr_repeat_contact(followed_by_repeat=part, eligible=whole),
    ]
    for value in values:
        assert value is None or 0.0 <= value <= 1.0


def test_averaging_ratios_would_be_wrong():
    # Bucket A: 1 offered, 1 abandoned (100 %); bucket B: 99 offered, 0 abandoned (0 %).
    # The mean of the two ratios says 50 %; the true rate over 100 calls is 1 %.
    a = [RawCall("abandoned", 30.0)]
    b = [RawCall("answered", 3.0)] * 99
    per_bucket = [kpis_from_counters(counters_of(x))["abandon_include_short"] for x in (a, b)]
    assert fmean(per_bucket) == 0.5
    merged = kpis_from_counters(add(counters_of(a), counters_of(b)))["abandon_include_short"]
    assert merged == pytest.approx(0.01)
    assert reference_kpis(a + b)["abandon_include_short"] == pytest.approx(0.01)
