"""EntryMemo: a remembered window entry is exactly the one computing it would give."""

from __future__ import annotations

from cxpulse.settings import ServiceLevelMode, load_settings
from exporters.entry_memo import EntryMemo, window_entry
from exporters.views import VIEWS

SETTINGS = load_settings()
CALLS = VIEWS["calls"]
SURVEYS = VIEWS["surveys"]
BUSY = {"offered": 40.0, "answered": 30.0, "answered_within_sl": 24.0, "abandoned": 8.0, "short_abandoned": 2.0,
        "handled": 29.0, "talk_seconds": 5800.0, "answer_wait_seconds": 410.0}
QUIET = {"offered": 3.0, "answered": 3.0, "answered_within_sl": 3.0, "handled": 3.0, "talk_seconds": 400.0}
SURVEYED = {"nps_responses": 12.0, "nps_promoters": 7.0, "nps_detractors": 2.0, "nps_passives": 3.0}


def test_an_entry_is_what_computing_it_gives() -> None:
    memo = EntryMemo(SETTINGS)
    for view, counts in ((CALLS, BUSY), (CALLS, QUIET), (CALLS, {}), (SURVEYS, SURVEYED)):
        assert memo.entry(view, counts) == window_entry(counts, SETTINGS, view)
        assert memo.entry(view, dict(counts)) == window_entry(counts, SETTINGS, view)  # remembered, still equal
    assert memo.misses == 4 and memo.hits == 4


def test_the_same_counts_in_another_order_are_remembered() -> None:
    memo = EntryMemo(SETTINGS)
    first = memo.entry(CALLS, BUSY)
    assert memo.entry(CALLS, dict(reversed(list(BUSY.items())))) is first


def test_one_changed_count_is_computed_again() -> None:
    memo = EntryMemo(SETTINGS)
    before = memo.entry(CALLS, BUSY)
    after = memo.entry(CALLS, BUSY | {"abandoned": 9.0})
    assert after is not before
    assert after["kpis"]["abandon_rate"] != before["kpis"]["abandon_rate"]


def test_streams_do_not_share_entries() -> None:
    memo = EntryMemo(SETTINGS)
    assert memo.entry(CALLS, {}) is not memo.entry(SURVEYS, {})
    assert set(memo.entry(SURVEYS, {})["kpis"]) == set(window_entry({}, SETTINGS, SURVEYS)["kpis"])


def test_an_entry_is_kept_one_build_past_its_last_use() -> None:
    memo = EntryMemo(SETTINGS)
    kept = memo.entry(CALLS, BUSY)
    memo.turn()
    assert memo.entry(CALLS, BUSY) is kept  # used by the build before
    memo.turn()
    memo.entry(CALLS, QUIET)
    memo.turn()  # a build that did not use BUSY: gone after it
    memo.turn()
    assert memo.entry(CALLS, BUSY) is not kept


def test_the_settings_are_part_of_the_answer() -> None:
    other = SETTINGS.model_copy(update={"service_level_mode": ServiceLevelMode.ABANDONS_IGNORED})
    assert other.service_level_mode != SETTINGS.service_level_mode
    mine, theirs = EntryMemo(SETTINGS).entry(CALLS, BUSY), EntryMemo(other).entry(CALLS, BUSY)
    assert mine["kpis"]["service_level"] != theirs["kpis"]["service_level"]
