"""The simulator is the demo's and the alert tests' only traffic: it must be valid,
causally ordered and reproducible, or every downstream figure is suspect."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from streams.decode import validate_object
from streams.events import EVENT_MODELS, stream_of
from processors.kpis.surveys import ces_normalized
from streams.simulator import SURVEY_FORMS, TrafficModel, history_seed, run_simulator

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)
MS = 0.001


def window(model: TrafficModel, seconds: float) -> list:
    return model.events_between(T0, T0 + timedelta(seconds=seconds))


@pytest.fixture(scope="module")
def events() -> list:
    return window(TrafficModel(seed=7), 900)


def by(events: list, key: str) -> dict[str, list]:
    groups: dict[str, list] = defaultdict(list)
    for event in events:
        if hasattr(event, key):
            groups[getattr(event, key)].append(event)
    return groups


def test_same_seed_same_events_other_seed_differs() -> None:
    a = [e.model_dump() for e in window(TrafficModel(seed=1), 60)]
    b = [e.model_dump() for e in window(TrafficModel(seed=1), 60)]
    c = [e.model_dump() for e in window(TrafficModel(seed=2), 60)]
    assert a and a == b
    assert a != c


def test_output_does_not_depend_on_how_the_clock_is_sliced() -> None:
    whole = window(TrafficModel(seed=3), 120)
    model = TrafficModel(seed=3)
    model.start(T0)
    sliced = []
    for i in range(1, 1201):
        sliced += model.step(T0 + timedelta(seconds=i / 10))
    assert sliced == whole


def test_each_step_releases_only_events_at_or_before_the_clock() -> None:
    model = TrafficModel(seed=4, calls_per_second=20)
    model.start(T0)
    previous, released = T0, 0
    for i in range(1, 301):
        now = T0 + timedelta(seconds=i / 10)
        for event in model.step(now):
            assert previous < event.occurred_at <= now
            released += 1
        previous = now
    assert released > 500


def test_every_event_validates_and_every_type_occurs(events: list) -> None:
    for event in events:
        stream = stream_of(event.type)
        result = validate_object(event.model_dump(mode="json"), stream)
        assert result == event, result
    assert {e.type for e in events} == set(EVENT_MODELS)
    assert len({e.event_id for e in events}) == len(events)


def test_call_lifecycles_are_ordered(events: list) -> None:
    complete = {
        ("call.queued", "call.answered", "call.completed"),
        ("call.queued", "call.abandoned"),
    }
    calls = by([e for e in events if e.type.startswith("call.")], "call_id")
    finished = 0
    for call_events in calls.values():
        types = tuple(e.type for e in call_events)
        # Calls still running at the end of the window show a prefix of a lifecycle.
        assert any(full[: len(types)] == types for full in complete), types
        finished += types in complete
        times = [e.occurred_at for e in call_events]
        assert times == sorted(times)
        assert len({(e.queue, e.customer_id, e.channel) for e in call_events}) == 1
    assert finished > 0.9 * len(calls)


def test_waits_and_handle_times_match_the_timestamps(events: list) -> None:
    waits, abandons = [], []
    for call_events in by([e for e in events if e.type.startswith("call.")], "call_id").values():
        queued = call_events[0]
        for event in call_events[1:]:
            if event.type in ("call.answered", "call.abandoned"):
                actual = (event.occurred_at - queued.occurred_at).total_seconds()
                assert abs(event.wait_seconds - actual) <= MS
                (waits if event.type == "call.answered" else abandons).append(event.wait_seconds)
            if event.type == "call.completed":
                answered = call_events[1]
                assert event.agent_id == answered.agent_id
                handle = (event.occurred_at - answered.occurred_at).total_seconds()
                parts = event.talk_seconds + event.hold_seconds + event.acw_seconds
                assert abs(handle - parts) <= MS
                assert 5 <= event.talk_seconds <= 60 and 2 <= event.acw_seconds <= 20
    # Realistic shape: some answers miss a 20 s target, some abandons are short.
    assert 0.03 < sum(w > 20 for w in waits) / len(waits) < 0.4
    assert 0 < sum(w < 5 for w in abandons) < len(abandons)


def test_repeat_contacts_happen(events: list) -> None:
    completed = [e for e in events if e.type == "call.completed"]
    pairs = Counter((e.customer_id, e.contact_reason) for e in completed)
    repeats = sum(n - 1 for n in pairs.values())
    assert 0.03 < repeats / len(completed) < 0.5
    assert 0.7 < sum(bool(e.resolved) for e in completed) / len(completed) < 0.98


def test_surveys_follow_a_finished_call_or_ticket(events: list) -> None:
    calls = {e.call_id: e for e in events if e.type == "call.completed"}
    tickets = {e.ticket_id: e for e in events if e.type == "ticket.closed"}
    responses = [e for e in events if e.type == "survey.response"]
    assert {r.survey_type for r in responses} == set(SURVEY_FORMS)
    assert {s.touchpoint for s in events if s.type.startswith("survey.")} == {"call", "ticket"}
    for survey in (e for e in events if e.type.startswith("survey.")):
        about = (calls if survey.touchpoint == "call" else tickets)[survey.contact_id]
        assert survey.occurred_at > about.occurred_at
        assert (survey.queue, survey.agent_id, survey.channel) == (about.queue, about.agent_id, about.channel)
    for response in responses:
        assert response.scale_min <= response.score <= response.scale_max


def test_every_documented_survey_form_is_used(events: list) -> None:
    """NPS 0-10 and 1-10, CSAT 1-5, 1-10 and yes/no, CES 1-7 and 1-5 'effort' (kpis.md)."""
    used = Counter((e.survey_type, e.scale_min, e.scale_max, e.polarity)
                   for e in events if e.type == "survey.response")
    forms = {(kind, lo, hi, polarity) for kind, options in SURVEY_FORMS.items() for lo, hi, polarity, _ in options}
    assert {(k, lo, hi, pol) for k, lo, hi, pol in used} == forms
    assert ("ces", 1, 5, "lower_is_better") in forms and ("csat", 0, 1, "higher_is_better") in forms
    assert ("nps", 1, 10, "higher_is_better") in forms and ("csat", 1, 10, "higher_is_better") in forms
    assert min(used.values()) >= 10  # each form often enough to move its figures


def test_lower_is_better_answers_mean_the_same_mood(events: list) -> None:
    """Once normalised, both CES wordings tell the same story: polarity is applied."""
    normalised: dict[str, list[float]] = defaultdict(list)
    for e in events:
        if e.type == "survey.response" and e.survey_type == "ces":
            normalised[e.polarity].append(ces_normalized(e.score, e.scale_min, e.scale_max, e.polarity))
    means = {polarity: sum(v) / len(v) for polarity, v in normalised.items()}
    assert means["higher_is_better"] > 4.5 and means["lower_is_better"] > 4.5
    assert abs(means["higher_is_better"] - means["lower_is_better"]) < 1.0
    raw_effort = [e.score for e in events if e.type == "survey.response" and e.polarity == "lower_is_better"]
    assert sum(raw_effort) / len(raw_effort) < 3  # low effort: the happy end of that wording


def test_history_holds_finished_contacts_only() -> None:
    end = T0 + timedelta(seconds=150)
    history = TrafficModel(seed=8).finished_between(T0, end)
    again = TrafficModel(seed=8).finished_between(T0, end)
    everything = TrafficModel(seed=8).events_between(T0, end)
    assert [e.model_dump() for e in history] == [e.model_dump() for e in again]
    assert {e.event_id for e in history} < {e.event_id for e in everything}
    finished = {
        ("call.queued", "call.answered", "call.completed"), ("call.queued", "call.abandoned"),
    }
    for call in by([e for e in history if e.type.startswith("call.")], "call_id").values():
        assert tuple(e.type for e in call) in finished
    for ticket in by([e for e in history if e.type.startswith("ticket.")], "ticket_id").values():
        assert ticket[0].type == "ticket.created" and ticket[-1].type == "ticket.closed"
    # contacts cut off by the end are dropped whole, never half
    kept = {e.event_id for e in history}
    for group in by(everything, "ticket_id").values():
        assert len({e.event_id in kept for e in group}) == 1
    assert {e.type for e in history} >= {"survey.response", "checkout.completed", "ticket.resolved"}


def test_history_seed_never_equals_the_live_seed() -> None:
    seeds = [history_seed(seed) for seed in range(200)]
    assert all(h != s for s, h in enumerate(seeds)) and len(set(seeds)) == 200
    assert history_seed(5) == history_seed(5)


def test_ticket_and_cart_lifecycles(events: list) -> None:
    for ticket in by([e for e in events if e.type.startswith("ticket.")], "ticket_id").values():
        assert ticket[0].type == "ticket.created"
        assert [e.occurred_at for e in ticket] == sorted(e.occurred_at for e in ticket)
        for event in ticket:
            if event.type in ("ticket.first_response", "ticket.resolved"):
                assert event.created_at == ticket[0].occurred_at
        types = [e.type for e in ticket]
        if "ticket.reopened" in types:
            assert types.index("ticket.closed") < types.index("ticket.reopened")
    for cart in by([e for e in events if e.type.startswith(("cart.", "checkout."))], "cart_id").values():
        assert cart[0].type == "cart.created"
        if cart[-1].type == "checkout.completed":
            items = sum(e.quantity * e.unit_price for e in cart if e.type == "cart.item_added")
            assert cart[-1].amount == pytest.approx(items, abs=0.01)
            assert cart[-2].type == "checkout.started"


def abandon_share(events: list) -> dict[str, float]:
    offered, abandoned = Counter(), Counter()
    for event in events:
        if event.type == "call.queued":
            offered[event.queue] += 1
        elif event.type == "call.abandoned":
            abandoned[event.queue] += 1
    return {queue: abandoned[queue] / offered[queue] for queue in offered}


def calls_only(**kwargs) -> TrafficModel:
    return TrafficModel(calls_per_second=20, tickets_per_second=0, carts_per_second=0, **kwargs)


def test_abandon_bias_raises_that_queue_only() -> None:
    base = abandon_share(window(calls_only(seed=5), 300))
    spiked = abandon_share(window(calls_only(seed=5, abandon_bias={"billing": 0.6}), 300))
    assert spiked["billing"] > 0.5 > base["billing"] + 0.3
    for queue in ("sales", "support"):
        assert abs(spiked[queue] - base[queue]) < 0.03


def test_abandon_bias_set_mid_run_affects_later_arrivals_only() -> None:
    model = calls_only(seed=6)
    before = model.events_between(T0, T0 + timedelta(seconds=150))
    model.set_abandon_bias("sales", 0.9)
    after = model.events_between(T0 + timedelta(seconds=150), T0 + timedelta(seconds=300))
    queued_after = {e.call_id for e in after if e.type == "call.queued"}
    late = [e for e in after if getattr(e, "call_id", None) in queued_after]
    assert abandon_share(before)["sales"] < 0.15
    assert abandon_share(late)["sales"] > 0.8
    model.set_abandon_bias("sales", None)
    with pytest.raises(ValueError):
        model.set_abandon_bias("sales", 1.5)


def test_clock_misuse_is_refused() -> None:
    with pytest.raises(ValueError):
        TrafficModel().start(datetime(2024, 1, 1))  # naive
    model = TrafficModel()
    model.events_between(T0, T0 + timedelta(seconds=10))
    with pytest.raises(ValueError):
        model.events_between(T0 + timedelta(seconds=20), T0 + timedelta(seconds=30))
    with pytest.raises(ValueError):
        model.step(T0)


class FakePublisher:
    """Stands in for Kafka: records what would have been sent."""

    sent: list = []

    def __init__(self, settings) -> None:
        FakePublisher.sent = []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        pass

    async def publish(self, event) -> None:
        assert event.occurred_at <= datetime.now(timezone.utc)
        FakePublisher.sent.append(event)

    async def flush(self) -> None:
        pass


@pytest.fixture
def fake_kafka(monkeypatch: pytest.MonkeyPatch) -> type[FakePublisher]:
    monkeypatch.setattr("streams.publisher.Publisher", FakePublisher)
    return FakePublisher


async def test_runner_publishes_in_real_time_and_counts(fake_kafka) -> None:
    from cxpulse.settings import Settings

    ticks = []
    counts = await run_simulator(
        Settings(), rate=40, duration=0.6, seed=1, create_topics=False,
        progress=lambda c, elapsed: ticks.append(elapsed),
    )
    expected = {"calls": 0, "tickets": 0, "carts": 0, "surveys": 0}
    for event in fake_kafka.sent:
        expected[stream_of(event.type)] += 1
    assert counts == expected
    assert counts["calls"] > 0
    assert len(ticks) >= 3 and ticks == sorted(ticks) and ticks[-1] == pytest.approx(0.6)


async def test_runner_stops_when_asked(fake_kafka) -> None:
    from cxpulse.settings import Settings

    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, stop.set)
    began = asyncio.get_running_loop().time()
    await run_simulator(Settings(), rate=10, duration=None, seed=1, stop=stop, create_topics=False)
    assert asyncio.get_running_loop().time() - began < 2
