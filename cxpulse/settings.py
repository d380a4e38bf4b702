"""Settings for every cxpulse process, read from a TOML file and ``CXPULSE_*`` variables.

One model is shared by the worker, the exporter, the publisher and the demo so that
thresholds used at ingestion (service-level T, short-abandon threshold) are the very
same ones the exporter reports next to the figures. Precedence, lowest first:
defaults, the TOML (or JSON) file (``--config`` or ``CXPULSE_CONFIG``), environment variables,
command-line flags. Nested values use ``__`` in variable names
(``CXPULSE_QUEUE_DEFAULTS__SL_THRESHOLD_SECONDS=30``); per-queue overrides are JSON
(``CXPULSE_QUEUES='{"billing": {"sl_threshold_seconds": 60}}'``).
"""

from __future__ import annotations

import json
import os
import tomllib
from enum import Enum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class ServiceLevelMode(str, Enum):
    """How abandoned calls enter the service level (the three Cisco-style modes).

    ``abandons_against`` (default, industry-reference): answered within T /
    (answered + abandoned after the short-abandon threshold).
    ``abandons_ignored``: answered within T / answered.
    ``abandons_positive``: (answered within T + abandoned within T) / (answered + abandoned);
    the Amazon Connect reading, where a contact removed from queue within T is a success.
    """

    ABANDONS_AGAINST = "abandons_against"
    ABANDONS_IGNORED = "abandons_ignored"
    ABANDONS_POSITIVE = "abandons_positive"


class AbandonRateMode(str, Enum):
    """Whether short abandons (caller hung up within the threshold) count as abandons."""

    EXCLUDE_SHORT = "exclude_short"
    INCLUDE_SHORT = "include_short"


class QueueSettings(BaseModel):
    """Per-queue thresholds; applied by the worker when it buckets an event."""

    sl_threshold_seconds: float = Field(20.0, gt=0, description="Service-level target T")
    short_abandon_seconds: float = Field(5.0, ge=0, description="Abandons under this are short; 0 disables")


class Threshold(BaseModel):
    """Warning and critical levels of one KPI; the alert rules and the wall both read these."""

    warning: float
    critical: float
    higher_is_worse: bool = True

    def state(self, value: float | None) -> str:
        """normal / warning / critical / nodata for a value."""
        if value is None:
            return "nodata"
        worse = (lambda a, b: a >= b) if self.higher_is_worse else (lambda a, b: a <= b)
        if worse(value, self.critical):
            return "critical"
        if worse(value, self.warning):
            return "warning"
        return "normal"


class Thresholds(BaseModel):
    """Defaults: docs/kpis.md gives each value's source (seeds, industry reference)."""

    abandon_rate: Threshold = Threshold(warning=0.05, critical=0.10)
    service_level: Threshold = Threshold(warning=0.80, critical=0.70, higher_is_worse=False)
    longest_wait_seconds: Threshold = Threshold(warning=60, critical=120)
    calls_waiting: Threshold = Threshold(warning=10, critical=20)
    asa_seconds: Threshold = Threshold(warning=30, critical=60)
    aht_seconds: Threshold = Threshold(warning=600, critical=900)
    fcr: Threshold = Threshold(warning=0.70, critical=0.60, higher_is_worse=False)
    nps: Threshold = Threshold(warning=20, critical=0, higher_is_worse=False)
    csat: Threshold = Threshold(warning=0.75, critical=0.60, higher_is_worse=False)
    ces_easy_rate: Threshold = Threshold(warning=0.70, critical=0.50, higher_is_worse=False)
    ticket_backlog: Threshold = Threshold(warning=50, critical=100)
    ticket_ttr_seconds: Threshold = Threshold(warning=86400, critical=172800)
    cart_abandonment_rate: Threshold = Threshold(warning=0.75, critical=0.85)
    # alerting-only knobs: page on real spikes, not on two dropped calls at 3 a.m.
    abandon_min_offered: int = Field(20, ge=1, description="Calls offered in the window before abandon alerts apply")
    abandon_spike_factor: float = Field(2.0, gt=1, description="Short-window rate vs its own 1h baseline")
    pipeline_stale_seconds: float = Field(120, gt=0)
    dead_letters_per_minute: float = Field(1.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _partial_overrides(cls, data: Any) -> Any:
        """``CXPULSE_THRESHOLDS__CSAT__WARNING=0.8`` changes one level, keeping the rest."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, value in data.items():
            default = cls.model_fields[name].default if name in cls.model_fields else None
            if isinstance(value, dict) and isinstance(default, Threshold):
                merged[name] = default.model_dump() | value
        return merged


class TopicSettings(BaseModel):
    calls: str = "cx.calls"
    tickets: str = "cx.tickets"
    carts: str = "cx.carts"
    surveys: str = "cx.surveys"
    deadletter: str = "cx.deadletter"
    followups: str = "cx.followups"
    partitions: int = Field(4, ge=1, le=256)

    def sources(self) -> dict[str, str]:
        """Stream name -> topic name, for the four event topics (not the dead-letter one)."""
        return {"calls": self.calls, "tickets": self.tickets, "carts": self.carts, "surveys": self.surveys}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CXPULSE_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    # Connections. Secrets travel as SecretStr so they never print; each can also be
    # given as a file (CXPULSE_REDIS_URL_FILE, CXPULSE_KAFKA_SASL_PASSWORD_FILE, ...).
    kafka_url: str = "kafka://127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    # redis://:password@host:port/db, or rediss:// for TLS
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    app_id: str = "cxpulse"
    topics: TopicSettings = TopicSettings()

    # Event-time handling.
    time_zone: str = "UTC"
    allowed_lateness_seconds: float = Field(3600.0, gt=0)
    max_clock_skew_seconds: float = Field(300.0, ge=0)
    max_message_bytes: int = Field(65536, ge=256)

    # Call KPIs.
    queue_defaults: QueueSettings = QueueSettings()
    queues: dict[str, QueueSettings] = {}
    service_level_mode: ServiceLevelMode = ServiceLevelMode.ABANDONS_AGAINST
    abandon_rate_mode: AbandonRateMode = AbandonRateMode.EXCLUDE_SHORT
    aht_components: list[str] = ["talk", "hold", "acw"]
    fcr_repeat_window_days: float = Field(7.0, gt=0)
    waiting_max_age_seconds: float = Field(4 * 3600.0, gt=0)
    call_lifecycle_ttl_seconds: float = Field(
        12 * 3600.0, gt=0, description="How long a call's steps are remembered to check their order"
    )

    # Surveys.
    survey_min_sample: int = Field(30, ge=1, description="Below this many responses a figure is not meaningful")
    nps_band_set: Literal["seed003", "seed004", "custom"] = "seed003"
    nps_custom_bands: list[tuple[float, str]] = [(0.0, "bon"), (50.0, "excellent")]
    nps_last_n: int = Field(100, ge=1, le=10000)
    # satisfied answers per "min-max" scale (top-two-box by default; "0-1" is yes/no)
    csat_satisfied: dict[str, list[int]] = {"1-5": [4, 5], "1-7": [6, 7], "0-10": [9, 10], "1-10": [9, 10], "0-1": [1]}
    ces_easy_threshold: float = Field(5.0, ge=1, le=7, description="Normalised 1-7 score at or above which is 'easy'")

    # Tickets.
    ttr_denominator: Literal["resolved", "requests"] = "resolved"
    ticket_top_categories: int = Field(10, ge=1, le=100)

    # Carts.
    cart_abandon_timeout_seconds: float = Field(1800.0, gt=0)
    cart_timer_interval_seconds: float = Field(5.0, gt=0)

    # Redis windowed tables: how long each bucket resolution is kept.
    minute_bucket_ttl_seconds: int = Field(3 * 3600, ge=3600)
    hour_bucket_ttl_seconds: int = Field(8 * 86400, ge=86400)
    day_bucket_ttl_seconds: int = Field(400 * 86400, ge=86400)

    # Worker batching: one Redis round trip per batch.
    batch_max_events: int = Field(1000, ge=1)
    batch_within_seconds: float = Field(
        0.05, gt=0, description="Longest an agent waits to gather a batch (freshness against Redis work per event)"
    )
    batch_max_runs: int = Field(
        256,
        ge=1,
        description="With message_batches: most fetched runs an agent takes per batch; "
        "it takes what came within batch_within_seconds, up to this",
    )
    redis_retry_max_seconds: float = Field(5.0, gt=0)
    fast_consumer: bool = Field(
        True, description="Faust consumer without the per-message race (processors/fast_consumer.py); off = Faust's own"
    )
    message_batches: bool = Field(
        True,
        description="With fast_consumer: each partition's fetched messages reach the agent as one batch "
        "(processors/message_batch.py), so Faust's per-message delivery runs once per batch",
    )
    stream_buffer_maxsize: int = Field(
        16384, ge=64, description="Messages buffered per agent; an envelope counts as one message"
    )
    consumer_fetch_max_wait_ms: int | None = Field(
        30, ge=0, description="Longest a fetch waits for data (Faust's own: 1500); with fast_consumer only"
    )
    gc_freeze: bool = Field(
        True, description="Worker and exporter: keep the start-up heap out of the garbage collector's scans (processors/gc_tuning.py)"
    )
    gc_young_threshold: int = Field(
        50_000, ge=1, description="Worker and exporter: allocations between young-generation collections (Python's default: 700)"
    )

    thresholds: Thresholds = Thresholds()

    # Exporter.
    exporter_host: str = "127.0.0.1"
    exporter_port: int = Field(9477, ge=0, le=65535)
    exporter_basic_auth_user: str | None = None
    exporter_basic_auth_password: SecretStr | None = None
    exporter_tls_certfile: str | None = None
    exporter_tls_keyfile: str | None = None
    snapshot_cache_seconds: float = Field(
        0.25, ge=0, description="The exporter rebuilds its snapshot this often while it is read; 0 = on every request"
    )
    snapshot_idle_seconds: float = Field(
        120.0, gt=0, description="The exporter stops rebuilding after this long without a request"
    )
    wall_stale_seconds: float = Field(
        30.0, gt=0, description="The wall says DATA STALE when the newest event is older than this"
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. UTC, Europe/Paris)") from exc
        return value

    @field_validator("nps_custom_bands")
    @classmethod
    def _distinct_bounds(cls, value: list[tuple[float, str]]) -> list[tuple[float, str]]:
        bounds = [bound for bound, _ in value]
        if len(set(bounds)) != len(bounds):
            raise ValueError(f"nps_custom_bands has a repeated lower bound: {bounds}")
        return sorted(value)

    @field_validator("aht_components")
    @classmethod
    def _known_components(cls, value: list[str]) -> list[str]:
        unknown = set(value) - {"talk", "hold", "acw"}
        if unknown or not value:
            raise ValueError(f"aht_components must be a non-empty subset of talk, hold, acw; got {value}")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _minute_buckets_cover_today(self) -> "Settings":
        # "today" is read from hour buckets; a zone whose midnight is not on a UTC hour
        # needs minute buckets back to local midnight, so keep them a day.
        if not zone_is_hour_aligned(self.time_zone) and self.minute_bucket_ttl_seconds < 25 * 3600:
            self.minute_bucket_ttl_seconds = 25 * 3600
        return self

    def queue(self, name: str) -> QueueSettings:
        """A queue's own values, falling back field by field to ``queue_defaults``."""
        override = self.queues.get(name)
        if override is None:
            return self.queue_defaults
        return self.queue_defaults.model_copy(update=override.model_dump(exclude_unset=True))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def kafka_bootstrap(self) -> str:
        """``kafka://h1:9092;h2:9092`` or ``h1:9092,h2:9092`` -> ``h1:9092,h2:9092`` for aiokafka."""
        url = self.kafka_url
        for scheme in ("kafka://", "aiokafka://"):
            if url.startswith(scheme):
                url = url[len(scheme):]
        return url.replace(";", ",")

    def kafka_client_options(self) -> dict[str, Any]:
        """aiokafka keyword arguments for the configured security (producer, consumer, admin)."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if "SSL" in self.kafka_security_protocol:
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=self.kafka_ssl_cafile, certfile=self.kafka_ssl_certfile, keyfile=self.kafka_ssl_keyfile
            )
        if self.kafka_security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        return options

    def faust_credentials(self) -> Any:
        """The same security for Faust's broker connections (None for PLAINTEXT)."""
        import faust

        options = self.kafka_client_options()
        if self.kafka_security_protocol.startswith("SASL"):
            return faust.SASLCredentials(
                username=options["sasl_plain_username"], password=options["sasl_plain_password"],
                mechanism=self.kafka_sasl_mechanism, ssl_context=options.get("ssl_context"),
            )
        if self.kafka_security_protocol == "SSL":
            return faust.SSLCredentials(options["ssl_context"])
        return None

    @model_validator(mode="after")
    def _auth_pairs(self) -> "Settings":
        if (self.exporter_basic_auth_user is None) != (self.exporter_basic_auth_password is None):
            raise ValueError("exporter basic auth needs both exporter_basic_auth_user and _password")
        if (self.exporter_tls_certfile is None) != (self.exporter_tls_keyfile is None):
            raise ValueError("exporter TLS needs both exporter_tls_certfile and exporter_tls_keyfile")
        if self.kafka_security_protocol.startswith("SASL") and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError("SASL needs kafka_sasl_username and kafka_sasl_password")
        return self

    @property
    def faust_broker(self) -> str:
        return "kafka://" + self.kafka_bootstrap.replace(",", ";")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init kwargs carry the TOML file's values: the environment must win over them.
        return (env_settings, init_settings, file_secret_settings)


def zone_is_hour_aligned(zone_name: str) -> bool:
    """True if the zone's UTC offset is a whole number of hours all year round."""
    from datetime import datetime, timezone

    zone = ZoneInfo(zone_name)
    year = datetime.now(timezone.utc).year
    for month in (1, 4, 7, 10):
        offset = datetime(year, month, 1, tzinfo=zone).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
    return True


SECRET_FIELDS = ("redis_url", "kafka_sasl_password", "exporter_basic_auth_password")


def _secret_files() -> dict[str, str]:
    """``CXPULSE_<SECRET>_FILE=/run/secrets/x`` -> the file's content (Docker/Kubernetes secrets)."""
    values: dict[str, str] = {}
    for name in SECRET_FIELDS:
        path = os.environ.get(f"CXPULSE_{name.upper()}_FILE")
        if not path:
            continue
        if os.environ.get(f"CXPULSE_{name.upper()}"):
            raise ValueError(f"set CXPULSE_{name.upper()} or CXPULSE_{name.upper()}_FILE, not both")
        with open(path, encoding="utf-8") as handle:
            values[name] = handle.read().strip()
    return values


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the TOML file (if any), secret files, the environment, then ``overrides``."""
    path = config or os.environ.get("CXPULSE_CONFIG")
    file_values: dict[str, Any] = {}
    if path:
        with open(path, "rb") as handle:
            file_values = json.load(handle) if str(path).endswith(".json") else tomllib.load(handle)
    file_values.update(_secret_files())
    settings = Settings(**file_values)
    clean = {key: value for key, value in overrides.items() if value is not None}
    if not clean:
        return settings
    merged = settings.model_dump()
    merged.update(clean)
    # Flags outrank the environment: validate the merged values with env reading off
    # (the environment's values are already inside ``merged``).
    return Settings(_env_prefix="CXPULSE_FLAGS_OUTRANK_ENV_", **merged)


def redis_url_of(settings: Settings) -> str:
    return settings.redis_url.get_secret_value()
