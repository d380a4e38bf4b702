"""Synthetic, seeded contact-center traffic for demos, tests and benchmarks.

``TrafficModel`` is a pure discrete-event generator: no I/O, no wall clock. Every
contact's whole lifecycle is decided when it arrives (all random draws happen then,
in arrival order), and its events are released as the caller's clock passes their
``occurred_at``. So the output for a seed does not depend on how the clock is sliced:
one ``events_between(t0, t0 + 60 s)`` equals six hundred 0.1 s steps.

Lifecycles are compressed to tens of seconds so a live demo moves: talk 5-60 s,
wrap-up 2-20 s, tickets resolved within a minute or two. Waits and abandons keep
their real shape (exponential waits, some over the 20 s service-level target, some
short abandons under 5 s), and customers come from a small pool with a few contact
reasons per queue so repeat contacts (FCR) happen. Surveys follow calls and
resolved tickets, on every scale and polarity the seeds use (NPS 0-10 or 1-10, CSAT
1-5, 1-10 or yes/no, CES 1-7 "easy" or 1-5 "effort"), so each normalisation path runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from cxpulse.settings import Settings
from streams.events import (
    CallAbandoned,
    CallAnswered,
    CallCompleted,
    CallQueued,
    CartAbandoned,
    CartCreated,
    CartItemAdded,
    CheckoutCompleted,
    CheckoutStarted,
    Envelope,
    STREAM_EVENT_UNIONS,
    SurveyResponse,
    SurveySent,
    TicketClosed,
    TicketCreated,
    TicketEscalated,
    TicketFirstResponse,
    TicketReassigned,
    TicketReopened,
    TicketResolved,
    partition_key,
    stream_of,
)

log = logging.getLogger(__name__)

STREAMS = tuple(STREAM_EVENT_UNIONS)


@dataclass(frozen=True)
class QueueProfile:
    """How one queue behaves: mean answer wait, base abandon share, why people call."""

    mean_wait: float
    abandon: float
    reasons: tuple[str, ...]


PROFILES: dict[str, QueueProfile] = {
    "sales": QueueProfile(7.0, 0.05, ("new_order", "pricing", "upgrade")),
    "support": QueueProfile(13.0, 0.10, ("outage", "how_to", "bug_report", "password_reset")),
    "billing": QueueProfile(10.0, 0.07, ("invoice", "refund", "payment_failed")),
}
DEFAULT_PROFILE = QueueProfile(10.0, 0.08, ("general", "account", "other"))

# (sku, unit price in EUR)
CATALOG = (
    ("sku-1001", 9.99), ("sku-1002", 24.5), ("sku-1003", 4.25), ("sku-2001", 129.0),
    ("sku-2002", 59.9), ("sku-3001", 15.0), ("sku-3002", 349.0), ("sku-4001", 2.99),
)
TICKET_CATEGORIES = ("delivery", "account", "product", "billing", "returns")
TICKET_CHANNELS = ("email", "web", "chat")
PRIORITIES = (("low", 3), ("normal", 6), ("high", 2), ("urgent", 1))
MAX_WAIT = 300.0

# How each survey type is asked: (scale_min, scale_max, polarity, weight). The first
# is the common form; the others are the seeds' variants (catalog §6 items 1, 5, 6).
SURVEY_FORMS: dict[str, tuple[tuple[int, int, str, int], ...]] = {
    "nps": ((0, 10, "higher_is_better", 8), (1, 10, "higher_is_better", 2)),
    "csat": ((1, 5, "higher_is_better", 6), (1, 10, "higher_is_better", 2), (0, 1, "higher_is_better", 2)),
    "ces": ((1, 7, "higher_is_better", 6), (1, 5, "lower_is_better", 4)),
}


@dataclass(frozen=True)
class _Arrival:
    stream: str
    callback: tuple[str, str, str] | None = None  # (customer, queue, reason) calling again


class TrafficModel:
    """Seeded generator of call, ticket, cart and survey lifecycles.

    ``calls_per_second`` drives everything: tickets and carts arrive at fixed ratios
    of it unless given their own rates, and surveys follow a share of completed calls.
    """

    def __init__(
        self,
        queues: Sequence[str] = ("sales", "support", "billing"),
        channels: Sequence[str] = ("voice", "chat"),
        calls_per_second: float = 5.0,
        seed: int = 0,
        abandon_bias: dict[str, float] | None = None,
        *,
        tickets_per_second: float | None = None,
        carts_per_second: float | None = None,
        customers: int = 5000,
        callback_share: float = 0.6,
        agents_per_queue: int = 8,
        survey_share: float = 0.35,
        survey_response_share: float = 0.7,
    ) -> None:
        if not queues or not channels:
            raise ValueError("need at least one queue and one channel")
        if calls_per_second < 0:
            raise ValueError("calls_per_second must be >= 0")
        self.queues = tuple(queues)
        self.channels = tuple(channels)
        # The first channel dominates (voice, in a contact center), the rest taper off.
        self._channel_weights = [1.0 / (i + 1) for i in range(len(self.channels))]
        self.rates = {
            "calls": calls_per_second,
            "tickets": 0.3 * calls_per_second if tickets_per_second is None else tickets_per_second,
            "carts": 0.5 * calls_per_second if carts_per_second is None else carts_per_second,
        }
        self.customers = customers
        self.callback_share = callback_share
        self.agents_per_queue = agents_per_queue
        self.survey_share = survey_share
        self.survey_response_share = survey_response_share
        self.rng = random.Random(seed)
        self._bias: dict[str, float] = {}
        for queue, probability in (abandon_bias or {}).items():
            self.set_abandon_bias(queue, probability)
        self._heap: list[tuple[datetime, int, Envelope | _Arrival]] = []
        self._seq = 0
        self._counter = 0
        self.now: datetime | None = None

    # ------------------------------------------------------------------ clock

    def set_abandon_bias(self, queue: str, probability: float | None) -> None:
        """Make calls arriving from now on in ``queue`` abandon with ``probability``.

        ``None`` restores the queue's normal behaviour. Calls already waiting keep
        the fate they were dealt on arrival.
        """
        if probability is None:
            self._bias.pop(queue, None)
            return
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"abandon probability must be within 0..1, got {probability}")
        self._bias[queue] = probability

    def start(self, at: datetime) -> None:
        """Set the clock's origin; first arrivals are drawn from here."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("the clock needs a timezone-aware datetime")
        if self.now is not None:
            raise RuntimeError("the model has already started")
        self.now = at
        for stream, rate in self.rates.items():
            if rate > 0:
                self._push(at + self._seconds(self.rng.expovariate(rate)), _Arrival(stream))

    def step(self, now: datetime) -> list[Envelope]:
        """Every event with ``occurred_at <= now`` not yet returned, in time order."""
        if self.now is None:
            self.start(now)
        elif now < self.now:
            raise ValueError("the clock went backwards")
        self.now = now
        out: list[Envelope] = []
        while self._heap and self._heap[0][0] <= now:
            at, _, item = heapq.heappop(self._heap)
            if isinstance(item, _Arrival):
                self._arrive(item, at)
            else:
                out.append(item)
        return out

    def events_between(self, start: datetime, end: datetime) -> list[Envelope]:
        """Events in ``[start, end]``; successive windows must be contiguous."""
        if self.now is None:
            self.start(start)
        elif start != self.now:
            raise ValueError(f"windows must be contiguous: the clock is at {self.now}, not {start}")
        return self.step(end)

    def finished_between(self, start: datetime, end: datetime) -> list[Envelope]:
        """The events in ``[start, end]`` of the contacts whose lifecycle is over by ``end``.

        A warm history to publish before live traffic: a contact still in progress at
        ``end`` is left out whole, because nothing would ever finish it (a call queued
        and never answered would count as waiting for hours). Idle carts are kept: the
        worker's timer abandons them. The model cannot run on after this.
        """
        events = self.events_between(start, end)
        pending = {partition_key(item) for _, _, item in self._heap if isinstance(item, Envelope)}
        self._heap.clear()
        return [event for event in events if partition_key(event) not in pending]

    def iter_events(self, start: datetime, end: datetime, tick: float = 1.0) -> Iterator[Envelope]:
        """Stream ``events_between`` tick by tick, for long spans without a long list."""
        if self.now is None:
            self.start(start)
        at = self.now
        assert at is not None
        while at < end:
            at = min(end, at + timedelta(seconds=tick))
            yield from self.step(at)

    # -------------------------------------------------------------- internals

    @staticmethod
    def _seconds(value: float) -> timedelta:
        return timedelta(seconds=round(value, 3))

    def _push(self, at: datetime, item: Envelope | _Arrival) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, item))

    def _emit(self, model: type[Envelope], at: datetime, **fields: Any) -> Envelope:
        """Build (and so validate) an event now; it is released when the clock reaches ``at``."""
        event_type = model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
        event = model(type=event_type, event_id=self._uuid(), occurred_at=at, **fields)
        self._push(at, event)
        return event

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self._counter:07d}-{self.rng.getrandbits(24):06x}"

    def _arrive(self, arrival: _Arrival, at: datetime) -> None:
        if arrival.callback is not None:
            self._call(at, arrival.callback)
            return
        stream = arrival.stream
        {"calls": self._call, "tickets": self._ticket, "carts": self._cart}[stream](at)
        self._push(at + self._seconds(self.rng.expovariate(self.rates[stream])), _Arrival(stream))

    def _customer(self) -> str:
        return f"cust-{self.rng.randrange(self.customers):05d}"

    def _agent(self, queue: str) -> str:
        return f"{queue}-agent-{self.rng.randrange(self.agents_per_queue):02d}"

    def _profile(self, queue: str) -> QueueProfile:
        return PROFILES.get(queue, DEFAULT_PROFILE)

    def _uniform(self, low: float, high: float) -> float:
        return round(self.rng.uniform(low, high), 1)

    # ------------------------------------------------------------------ calls

    def _call(self, t0: datetime, callback: tuple[str, str, str] | None = None) -> None:
        rng = self.rng
        if callback is None:
            customer, queue = self._customer(), rng.choice(self.queues)
            reason = rng.choice(self._profile(queue).reasons)
        else:
            customer, queue, reason = callback
        profile = self._profile(queue)
        channel = rng.choices(self.channels, self._channel_weights)[0]
        common = {"call_id": self._id("call"), "queue": queue, "channel": channel,
                  "customer_id": customer}
        self._emit(CallQueued, t0, ivr_path=f"main>{queue}", **common)
        if rng.random() < self._bias.get(queue, profile.abandon):
            # Patience: many hang up within seconds (short abandons), a tail waits long.
            patience = min(MAX_WAIT, max(0.5, rng.expovariate(1 / 15.0)))
            at = t0 + self._seconds(patience)
            self._emit(CallAbandoned, at, wait_seconds=(at - t0).total_seconds(), **common)
            return
        wait = min(MAX_WAIT, rng.expovariate(1 / profile.mean_wait))
        answered = t0 + self._seconds(wait)
        agent = self._agent(queue)
        self._emit(CallAnswered, answered, wait_seconds=(answered - t0).total_seconds(),
                   agent_id=agent, **common)
        talk = self._uniform(5, 60)
        hold = 0.0 if rng.random() < 0.6 else self._uniform(0, 15)
        acw = self._uniform(2, 20)
        transfers = rng.choices((0, 1, 2), (90, 8, 2))[0]
        resolved = rng.random() < (0.88 if transfers == 0 else 0.6)
        done = answered + self._seconds(talk + hold + acw)
        self._emit(CallCompleted, done, agent_id=agent, talk_seconds=talk, hold_seconds=hold,
                   acw_seconds=acw, transfers=transfers, resolved=resolved,
                   contact_reason=reason, **common)
        # Repeat contacts: an unresolved problem (and the odd "resolved" one) calls back.
        if rng.random() < self.callback_share * (0.1 if resolved else 1.0):
            again = done + self._seconds(rng.uniform(10, 90))
            self._push(again, _Arrival("calls", (customer, queue, reason)))
        if rng.random() < self.survey_share:
            # Happiness in 0..1: resolution matters most, then the wait.
            wait = (answered - t0).total_seconds()
            self._survey(done, common, "call", common["call_id"], agent, (4, 4, 2),
                         (0.92 if resolved else 0.4) - min(wait, 60.0) / 200)

    def _survey(self, done: datetime, contact: dict[str, Any], touchpoint: str, contact_id: str,
                agent: str, type_weights: tuple[int, int, int], mood: float) -> None:
        """A survey about one finished contact; ``mood`` (0..1, before noise) sets the answer."""
        rng = self.rng
        survey_type = rng.choices(("nps", "csat", "ces"), type_weights)[0]
        fields = {"survey_id": self._id("survey"), "queue": contact["queue"], "agent_id": agent,
                  "contact_id": contact_id, "channel": contact["channel"],
                  "customer_id": contact["customer_id"], "touchpoint": touchpoint}
        sent = done + self._seconds(rng.uniform(1, 3))
        self._emit(SurveySent, sent, survey_type=survey_type, **fields)
        if rng.random() >= self.survey_response_share:
            return
        mood = min(1.0, max(0.0, mood + rng.gauss(0, 0.16)))
        forms = SURVEY_FORMS[survey_type]
        scale_min, scale_max, polarity, _ = rng.choices(forms, [form[3] for form in forms])[0]
        # "lower is better" wordings ("I had to make a lot of effort") put the happy end low
        position = mood if polarity == "higher_is_better" else 1.0 - mood
        score = float(round(scale_min + position * (scale_max - scale_min)))
        self._emit(SurveyResponse, sent + self._seconds(rng.uniform(3, 20)),
                   survey_type=survey_type, score=score, scale_min=scale_min,
                   scale_max=scale_max, polarity=polarity, **fields)

    # ---------------------------------------------------------------- tickets

    def _ticket(self, t0: datetime) -> None:
        rng = self.rng
        queue = rng.choice(self.queues)
        category = rng.choice(TICKET_CATEGORIES)
        common = {"ticket_id": self._id("ticket"), "queue": queue,
                  "channel": rng.choice(TICKET_CHANNELS), "customer_id": self._customer()}
        names, weights = zip(*PRIORITIES)
        self._emit(TicketCreated, t0, priority=rng.choices(names, weights)[0],
                   category=category, **common)
        agent = self._agent(queue)
        at = t0 + self._seconds(rng.uniform(2, 30))
        self._emit(TicketFirstResponse, at, agent_id=agent, created_at=t0, **common)
        if rng.random() < 0.15:
            at += self._seconds(rng.uniform(2, 15))
            others = [q for q in self.queues if q != queue]
            if others and rng.random() < 0.5:
                to_queue = rng.choice(others)
                self._emit(TicketReassigned, at, agent_id=agent, to_queue=to_queue, **common)
                common = {**common, "queue": to_queue}  # later events belong to the new queue
                agent = self._agent(to_queue)
            else:
                new_agent = self._agent(queue)
                self._emit(TicketReassigned, at, agent_id=agent, to_agent_id=new_agent, **common)
                agent = new_agent
        if rng.random() < 0.10:
            at += self._seconds(rng.uniform(2, 15))
            self._emit(TicketEscalated, at, agent_id=agent, level=rng.choice((1, 1, 2)), **common)
        contacts = rng.choices((1, 2, 3, 4), (50, 30, 15, 5))[0]
        for round_ in range(2):
            at += self._seconds(rng.uniform(5, 60))
            self._emit(TicketResolved, at, agent_id=agent, created_at=t0, contact_count=contacts,
                       category=category, **common)
            at += self._seconds(rng.uniform(5, 20))
            self._emit(TicketClosed, at, agent_id=agent, **common)
            if round_ or rng.random() >= 0.07:
                if rng.random() < self.survey_share:
                    # many contacts and a reopen make for an unhappy customer
                    mood = 0.85 - 0.12 * (contacts - 1) - 0.25 * round_
                    self._survey(at, common, "ticket", common["ticket_id"], agent, (2, 5, 3), mood)
                return
            at += self._seconds(rng.uniform(3, 15))
            self._emit(TicketReopened, at, **common)
            contacts += 1

    # ------------------------------------------------------------------ carts

    def _cart(self, t0: datetime) -> None:
        rng = self.rng
        common = {"cart_id": self._id("cart"), "session_id": self._id("sess"), "channel": "web",
                  # A third shop anonymously.
                  "customer_id": self._customer() if rng.random() < 0.67 else None}
        self._emit(CartCreated, t0, **common)
        at, total = t0, 0.0
        for _ in range(rng.choice((1, 1, 2, 3))):
            at += self._seconds(rng.uniform(2, 10))
            sku, price = rng.choice(CATALOG)
            quantity = rng.choices((1, 2, 3), (80, 15, 5))[0]
            total += quantity * price
            self._emit(CartItemAdded, at, sku=sku, quantity=quantity, unit_price=price, **common)
        outcome = rng.random()
        if outcome < 0.45:
            at += self._seconds(rng.uniform(3, 10))
            self._emit(CheckoutStarted, at, **common)
            if rng.random() < 0.8:
                at += self._seconds(rng.uniform(5, 20))
                self._emit(CheckoutCompleted, at, order_id=self._id("order"),
                           amount=round(total, 2), currency="EUR", **common)
            # else: gave up at payment, silently (the worker's inactivity timeout finds it)
        elif outcome < 0.65:
            at += self._seconds(rng.uniform(10, 40))
            self._emit(CartAbandoned, at, **common)
        # else: left idle, no event at all


# --------------------------------------------------------------------- runner


def history_seed(seed: int) -> int:
    """The seed of a run's warm history: never the live seed, so event ids never collide."""
    return random.Random(f"history-{seed}").getrandbits(63)


async def publish_history(settings: Settings, *, rate: float, seed: int, seconds: float) -> dict[str, int]:
    """Publish the finished contacts of the last ``seconds`` (``TrafficModel.finished_between``).

    The demo calls this before it starts live traffic, so every figure (survey answers,
    resolution times, completed checkouts) has data from the first refresh instead of
    after the first lifecycles end. Returns counts per stream.
    """
    from streams.publisher import Publisher

    end = datetime.now(timezone.utc)
    model = TrafficModel(calls_per_second=rate, seed=history_seed(seed))
    events = model.finished_between(end - timedelta(seconds=seconds), end)
    counts = {stream: 0 for stream in STREAMS}
    async with Publisher(settings) as publisher:
        for event in events:
            await publisher.publish(event)
            counts[stream_of(event.type)] += 1  # type: ignore[attr-defined,index]
        await publisher.flush()
    return counts

Progress = Callable[[Mapping[str, int], float], None]
"""Called after every tick with the counts so far and the seconds elapsed."""


async def run_simulator(
    settings: Settings,
    *,
    rate: float,
    duration: float | None,
    seed: int,
    stop: asyncio.Event | None = None,
    progress: Progress | None = None,
    tick: float = 0.1,
    create_topics: bool = True,
    model: TrafficModel | None = None,
) -> dict[str, int]:
    """Publish a ``TrafficModel``'s events in real time; return counts per stream.

    ``rate`` is new calls per second (tickets, carts and surveys scale with it). The
    clock is the wall-clock start plus monotonic elapsed time, so event times track
    real time without jumping when the system clock is adjusted. Runs until
    ``duration`` seconds have passed or ``stop`` is set. Pass ``model`` to keep a
    handle on it (e.g. to call ``set_abandon_bias`` while it runs).

    The same seed yields the same event ids, which the worker deduplicates: give a
    second run against the same broker and Redis a different seed.
    """
    from streams.publisher import Publisher
    from streams.topics import ensure_topics

    model = model or TrafficModel(calls_per_second=rate, seed=seed)
    stop = stop or asyncio.Event()
    counts = {stream: 0 for stream in STREAMS}
    if create_topics:
        await ensure_topics(settings)
    loop = asyncio.get_running_loop()
    async with Publisher(settings) as publisher:
        began = loop.time()
        origin = datetime.now(timezone.utc)
        model.start(origin)
        while True:
            elapsed = loop.time() - began
            finished = stop.is_set() or (duration is not None and elapsed >= duration)
            if duration is not None:
                elapsed = min(elapsed, duration)
            for event in model.step(origin + timedelta(seconds=elapsed)):
                await publisher.publish(event)
                counts[stream_of(event.type)] += 1  # type: ignore[attr-defined,index]
            await publisher.flush()
            if progress is not None:
                progress(dict(counts), elapsed)
            if finished:
                break
            pause = tick if duration is None else max(0.0, min(tick, duration - elapsed))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
    log.info("simulator published %s", counts)
    return counts
