"""The versioned event schema: one envelope, one model per event type, four streams.

Services in any language publish these as JSON objects; ``cxpulse schema`` writes
their JSON Schema. Every event carries ``event_id`` (the dedupe key: a retry of the
same event must reuse it), ``type`` (the discriminator), ``occurred_at`` (timezone
aware: event time, not arrival time, decides the window) and ``schema_version``.
Unknown fields are rejected so a typo in a field name is caught at the source,
not silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})

# Segment names become Redis field names and Prometheus label values: keep them tame.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128)]
# A duration longer than a day is a producer bug, not a long call.
Seconds = Annotated[float, Field(ge=0, le=86400)]
Money = Annotated[float, Field(ge=0, le=1e9)]
# A BCP 47 language tag: "fr", "fr-FR", "pt-BR" (NPS is « culturellement sensible », seed 004).
Locale = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")]


def not_a_bool(value: Any) -> Any:
    """A before-validator for a version field: ``true`` equals 1 to Python, so
    ``Literal[1]`` alone would take it as version 1 (and JSON mode does)."""
    if isinstance(value, bool):
        raise PydanticCustomError("literal_error", "a version must be a number, not a boolean")
    return value


class Envelope(BaseModel):
    """Fields every event shares."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    event_id: Identifier = Field(description="Unique per event; a retry reuses it (dedupe key)")
    occurred_at: AwareDatetime = Field(description="When it happened, with a time zone (event time)")
    schema_version: Literal[1] = Field(SCHEMA_VERSION, description="Version of this schema")
    channel: Name = Field("voice", description="voice, chat, email, web, ...")
    customer_id: Identifier | None = None

    _version_is_not_a_bool = field_validator("schema_version", mode="before")(not_a_bool)


# --------------------------------------------------------------------------- calls


class CallEvent(Envelope):
    call_id: Identifier
    queue: Name
    agent_id: Identifier | None = None


class CallQueued(CallEvent):
    """The call entered a queue: it is *offered* to the queue."""

    type: Literal["call.queued"]
    ivr_path: str | None = Field(None, max_length=256)


class CallAnswered(CallEvent):
    type: Literal["call.answered"]
    wait_seconds: Seconds = Field(description="Time in queue before an agent answered")


class CallAbandoned(CallEvent):
    type: Literal["call.abandoned"]
    wait_seconds: Seconds = Field(description="Time in queue before the caller hung up")
    abandoned_in: Literal["queue", "ivr"] = "queue"


class CallCompleted(CallEvent):
    """Wrap-up is done: handle time is stamped now (as Genesys does)."""

    type: Literal["call.completed"]
    talk_seconds: Seconds
    hold_seconds: Seconds = 0.0
    acw_seconds: Seconds = Field(0.0, description="After-call work (wrap-up)")
    transfers: int = Field(0, ge=0, le=100)
    contact_reason: Name | None = Field(None, description="Used with customer_id for repeat-contact FCR")
    resolved: bool | None = Field(None, description="Agent-marked resolution (FCR by agent flag)")


CallEventT = Annotated[
    Union[CallQueued, CallAnswered, CallAbandoned, CallCompleted], Field(discriminator="type")
]

# ------------------------------------------------------------------------- tickets


class TicketEvent(Envelope):
    ticket_id: Identifier
    queue: Name = "support"
    agent_id: Identifier | None = None
    channel: Name = "email"


class TicketCreated(TicketEvent):
    type: Literal["ticket.created"]
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    category: Name | None = Field(None, description="The one category KPIs count (top categories)")
    tags: list[Name] | None = Field(
        None, max_length=32,
        description="Free help-desk tags (seed 000: « les étiquettes du ticket »); kept, not counted",
    )


class TicketFirstResponse(TicketEvent):
    """The ticket's creation time travels with it: the worker keeps no per-ticket lookup."""

    type: Literal["ticket.first_response"]
    created_at: AwareDatetime


class TicketReassigned(TicketEvent):
    type: Literal["ticket.reassigned"]
    to_queue: Name | None = None
    to_agent_id: Identifier | None = None


class TicketEscalated(TicketEvent):
    type: Literal["ticket.escalated"]
    level: int = Field(1, ge=1, le=10)


class TicketResolved(TicketEvent):
    type: Literal["ticket.resolved"]
    created_at: AwareDatetime
    contact_count: int = Field(1, ge=1, le=10000)
    category: Name | None = None


class TicketClosed(TicketEvent):
    type: Literal["ticket.closed"]


class TicketReopened(TicketEvent):
    type: Literal["ticket.reopened"]
    created_at: AwareDatetime | None = Field(None, description="Keeps the backlog's oldest-open age honest")


TicketEventT = Annotated[
    Union[
        TicketCreated,
        TicketFirstResponse,
        TicketReassigned,
        TicketEscalated,
        TicketResolved,
        TicketClosed,
        TicketReopened,
    ],
    Field(discriminator="type"),
]

# --------------------------------------------------------------------------- carts


class CartEvent(Envelope):
    cart_id: Identifier
    session_id: Identifier | None = None
    channel: Name = "web"


class CartCreated(CartEvent):
    type: Literal["cart.created"]


class CartItemAdded(CartEvent):
    type: Literal["cart.item_added"]
    sku: Identifier
    quantity: int = Field(1, ge=1, le=100000)
    unit_price: Money = 0.0


class CheckoutStarted(CartEvent):
    type: Literal["checkout.started"]


class CheckoutCompleted(CartEvent):
    type: Literal["checkout.completed"]
    order_id: Identifier | None = None
    amount: Money
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"


class CartAbandoned(CartEvent):
    """Explicit abandonment; the worker also derives it after an inactivity timeout."""

    type: Literal["cart.abandoned"]


CartEventT = Annotated[
    Union[CartCreated, CartItemAdded, CheckoutStarted, CheckoutCompleted, CartAbandoned],
    Field(discriminator="type"),
]

# ------------------------------------------------------------------------- surveys


class SurveyEvent(Envelope):
    survey_id: Identifier
    queue: Name | None = None
    agent_id: Identifier | None = None
    touchpoint: Name | None = None
    contact_id: Identifier | None = Field(None, description="The call or ticket the survey is about")
    channel: Name = "voice"
    question_id: Identifier | None = Field(None, description="Which question (wording variant) was asked")
    locale: Locale | None = Field(None, description="Language of the survey, a BCP 47 tag such as fr-FR")


class SurveySent(SurveyEvent):
    type: Literal["survey.sent"]
    survey_type: Literal["nps", "csat", "ces"]


class SurveyResponse(SurveyEvent):
    """One answer. Scale and polarity travel with it so scores can be normalised."""

    type: Literal["survey.response"]
    survey_type: Literal["nps", "csat", "ces"]
    score: float = Field(ge=-1000, le=1000)
    scale_min: int = Field(0, ge=0, le=10)
    scale_max: int = Field(10, ge=1, le=100)
    polarity: Literal["higher_is_better", "lower_is_better"] = "higher_is_better"
    answer_format: Literal["numeric", "words", "emoji", "thumbs"] | None = Field(
        None, description="How the scale was shown; the score is still its position on the scale"
    )
    comment: str | None = Field(None, max_length=4000)

    @model_validator(mode="after")
    def _score_on_its_scale(self) -> "SurveyResponse":
        if self.scale_min >= self.scale_max:
            raise ValueError(f"scale_min {self.scale_min} must be below scale_max {self.scale_max}")
        if not self.scale_min <= self.score <= self.scale_max:
            # its own dead-letter reason, like a value outside a field's fixed bounds
            raise PydanticCustomError(
                "out_of_range",
                "score {score} is outside its scale {low}-{high}",
                {"score": f"{self.score:g}", "low": self.scale_min, "high": self.scale_max},
            )
        if self.score != int(self.score):
            raise ValueError(f"score {self.score:g} is not a whole number")
        if self.survey_type == "nps" and (self.scale_min, self.scale_max) not in ((0, 10), (1, 10)):
            raise ValueError("an NPS answer must be on the 0-10 (or 1-10) scale")
        return self


SurveyEventT = Annotated[Union[SurveySent, SurveyResponse], Field(discriminator="type")]

AnyEvent = Annotated[
    Union[
        CallQueued,
        CallAnswered,
        CallAbandoned,
        CallCompleted,
        TicketCreated,
        TicketFirstResponse,
        TicketReassigned,
        TicketEscalated,
        TicketResolved,
        TicketClosed,
        TicketReopened,
        CartCreated,
        CartItemAdded,
        CheckoutStarted,
        CheckoutCompleted,
        CartAbandoned,
        SurveySent,
        SurveyResponse,
    ],
    Field(discriminator="type"),
]

STREAM_EVENT_UNIONS = {
    "calls": CallEventT,
    "tickets": TicketEventT,
    "carts": CartEventT,
    "surveys": SurveyEventT,
}

# type prefix -> stream, so a publisher can route any event to its topic.
STREAM_OF_PREFIX = {
    "call": "calls",
    "ticket": "tickets",
    "cart": "carts",
    "checkout": "carts",
    "survey": "surveys",
}


def stream_of(event_type: str) -> str | None:
    return STREAM_OF_PREFIX.get(event_type.split(".", 1)[0])


def partition_key(event: BaseModel) -> str:
    """The message key: one contact's events share a partition, so they stay in order."""
    for attr in ("call_id", "ticket_id", "cart_id", "survey_id"):
        value = getattr(event, attr, None)
        if value:
            return value
    return getattr(event, "event_id")


EVENT_MODELS: dict[str, type[Envelope]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        CallQueued, CallAnswered, CallAbandoned, CallCompleted,
        TicketCreated, TicketFirstResponse, TicketReassigned, TicketEscalated,
        TicketResolved, TicketClosed, TicketReopened,
        CartCreated, CartItemAdded, CheckoutStarted, CheckoutCompleted, CartAbandoned,
        SurveySent, SurveyResponse,
    )
}
