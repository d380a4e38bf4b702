from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cxpulse.settings import AbandonRateMode, ServiceLevelMode, load_settings


def test_defaults_follow_the_industry_reference() -> None:
    s = load_settings()
    assert s.queue("any").sl_threshold_seconds == 20
    assert s.queue("any").short_abandon_seconds == 5
    assert s.service_level_mode is ServiceLevelMode.ABANDONS_AGAINST
    assert s.abandon_rate_mode is AbandonRateMode.EXCLUDE_SHORT
    assert s.fcr_repeat_window_days == 7
    assert s.exporter_host == "127.0.0.1"


def test_precedence_file_then_env_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cxpulse.toml"
    config.write_text('exporter_port = 1111\ntime_zone = "Europe/Paris"\n[queue_defaults]\nsl_threshold_seconds = 30\n')
    assert load_settings(config).exporter_port == 1111
    monkeypatch.setenv("CXPULSE_EXPORTER_PORT", "2222")
    s = load_settings(config)
    assert s.exporter_port == 2222 and s.time_zone == "Europe/Paris" and s.queue("x").sl_threshold_seconds == 30
    assert load_settings(config, exporter_port=3333).exporter_port == 3333


def test_queue_override_falls_back_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPULSE_QUEUE_DEFAULTS__SHORT_ABANDON_SECONDS", "8")
    monkeypatch.setenv("CXPULSE_QUEUES", '{"billing": {"sl_threshold_seconds": 60}}')
    s = load_settings()
    assert s.queue("billing").sl_threshold_seconds == 60
    assert s.queue("billing").short_abandon_seconds == 8
    assert s.queue("sales").sl_threshold_seconds == 20


def test_secrets_do_not_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPULSE_REDIS_URL", "redis://:hunter2@db:6379/0")
    s = load_settings()
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    assert s.redis_url.get_secret_value().endswith("@db:6379/0")


def test_bad_values_are_rejected_with_a_reason() -> None:
    with pytest.raises(ValidationError, match="time_zone"):
        load_settings(time_zone="Mars/Olympus")
    with pytest.raises(ValidationError, match="aht_components"):
        load_settings(aht_components=["talk", "coffee"])
    with pytest.raises(ValidationError):
        load_settings(service_level_mode="whatever")


def test_half_hour_zone_keeps_minute_buckets_a_day() -> None:
    assert load_settings(time_zone="Asia/Kolkata").minute_bucket_ttl_seconds >= 25 * 3600
    assert load_settings(time_zone="Europe/Paris").minute_bucket_ttl_seconds == 3 * 3600


def test_kafka_url_forms() -> None:
    assert load_settings(kafka_url="kafka://a:1;b:2").kafka_bootstrap == "a:1,b:2"
    assert load_settings(kafka_url="a:1,b:2").faust_broker == "kafka://a:1;b:2"


def test_duplicate_aht_components_count_once() -> None:
    assert load_settings(aht_components=["talk", "talk", "acw"]).aht_components == ["talk", "acw"]


def test_partial_threshold_override_keeps_the_other_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPULSE_THRESHOLDS__CSAT__WARNING", "0.8")
    csat = load_settings().thresholds.csat
    assert (csat.warning, csat.critical, csat.higher_is_worse) == (0.8, 0.60, False)


def test_custom_nps_bands_need_distinct_bounds() -> None:
    with pytest.raises(ValidationError, match="repeated"):
        load_settings(nps_custom_bands=[(0, "ok"), (0, "good")])


def test_sasl_settings_reach_every_kafka_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "sasl"
    secret.write_text("k4fka-pw\n")
    monkeypatch.setenv("CXPULSE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("CXPULSE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("CXPULSE_KAFKA_SASL_USERNAME", "cx")
    monkeypatch.setenv("CXPULSE_KAFKA_SASL_PASSWORD_FILE", str(secret))
    s = load_settings()
    options = s.kafka_client_options()
    assert options == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "cx", "sasl_plain_password": "k4fka-pw"}
    credentials = s.faust_credentials()
    assert credentials.username == "cx" and credentials.password == "k4fka-pw"
    assert "k4fka-pw" not in repr(s)


def test_a_secret_from_env_and_from_file_is_ambiguous(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "url").write_text("redis://:a@h:1/0")
    monkeypatch.setenv("CXPULSE_REDIS_URL", "redis://:b@h:1/0")
    monkeypatch.setenv("CXPULSE_REDIS_URL_FILE", str(tmp_path / "url"))
    with pytest.raises(ValueError, match="not both"):
        load_settings()


def test_half_configured_auth_and_tls_are_refused() -> None:
    with pytest.raises(ValidationError, match="basic auth"):
        load_settings(exporter_basic_auth_user="wall")
    with pytest.raises(ValidationError, match="TLS"):
        load_settings(exporter_tls_certfile="/x.pem")
    with pytest.raises(ValidationError, match="SASL"):
        load_settings(kafka_security_protocol="SASL_SSL")
