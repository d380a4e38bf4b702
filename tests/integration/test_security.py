"""Loopback by default, basic auth and TLS on the exporter, a password-protected Redis, and
secrets that never show up in a log, in /api/kpis or in /metrics."""

from __future__ import annotations

import base64
import http.client
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from cxpulse.settings import load_settings
from cxpulse.stack import LocalStack
from tests.conftest import self_signed_cert
from tests.integration.support import processed, publish, wait_for

pytestmark = pytest.mark.integration

REDIS_PASSWORD = "r3dis-S3cret-pw"
API_PASSWORD = "api-S3cret-pw"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def stack(tls: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    cert, key = tls
    secret_file = tmp_path_factory.mktemp("secrets") / "api-password"
    secret_file.write_text(API_PASSWORD + "\n")
    settings = load_settings(
        app_id="itest-security", batch_within_seconds=0.05, log_level="DEBUG",
        exporter_basic_auth_user="wall", exporter_basic_auth_password=API_PASSWORD,
        exporter_tls_certfile=str(cert), exporter_tls_keyfile=str(key),
    )
    with LocalStack(settings=settings, redis_password=REDIS_PASSWORD) as local:
        local.start_infra()
        local.start_worker()
        local.start_exporter_tls(cert)
        yield local


def _get(url: str, cert: Path, auth: str | None) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(cert))
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_exporter_needs_credentials_except_for_healthz(stack: LocalStack, tls: tuple[Path, Path]) -> None:
    base = stack.exporter_url
    cert = tls[0]
    assert base and base.startswith("https://")
    assert _get(base + "/metrics", cert, None)[0] == 401
    assert _get(base + "/api/kpis", cert, "wall:wrong")[0] == 401
    assert _get(base + "/wall", cert, None)[0] == 401
    assert _get(base + "/metrics", cert, f"wall:{API_PASSWORD}")[0] == 200
    assert _get(base + "/healthz", cert, None)[0] == 200  # probes need no secret
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):  # no plain HTTP
        urllib.request.urlopen(base.replace("https://", "http://") + "/healthz", timeout=5)


def test_secrets_never_appear_in_logs_or_outputs(stack: LocalStack, tls: tuple[Path, Path]) -> None:
    cert = tls[0]
    event = {"event_id": "sec-1", "type": "call.queued", "occurred_at": "2020-01-01T00:00:00+00:00",
             "queue": "sales", "call_id": "c1"}  # late on purpose: a dead letter gets logged
    publish(stack, [event])
    time.sleep(2)
    outputs = [_get(stack.exporter_url + path, cert, f"wall:{API_PASSWORD}")[1]  # type: ignore[operator]
               for path in ("/api/kpis", "/metrics", "/healthz")]
    logs = [p.read_text(errors="replace") for p in stack.workdir.glob("*.log")]
    assert any("dead-lettered" in text for text in logs)  # the worker did log, at DEBUG level
    for text in outputs + logs:
        assert REDIS_PASSWORD not in text
        assert API_PASSWORD not in text


def test_redis_requires_the_password() -> None:
    import redis

    # the stack's Redis refuses a client without the password
    with LocalStack(redis_password=REDIS_PASSWORD) as local:
        local.start_infra()
        assert local.redis is not None
        client = redis.Redis(host="127.0.0.1", port=local.redis.port, socket_timeout=5)
        with pytest.raises(redis.exceptions.AuthenticationError):
            client.ping()
        assert redis.Redis.from_url(local.redis.url, socket_timeout=5).ping()
        assert REDIS_PASSWORD not in " ".join(local.redis.proc.args)  # not on argv either


def test_every_listener_is_on_loopback(stack: LocalStack) -> None:
    for proc in stack.procs.procs:
        try:
            family = [proc.proc.pid] + [c.pid for c in psutil.Process(proc.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for pid in family:
            for conn in psutil.Process(pid).net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    assert conn.laddr.ip in ("127.0.0.1", "::1"), f"{proc.name} listens on {conn.laddr}"


def test_pipeline_works_with_a_password_protected_redis(stack: LocalStack, tls: tuple[Path, Path]) -> None:
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).isoformat()
    publish(stack, [{"event_id": "sec-2", "type": "call.queued", "occurred_at": now, "queue": "sales", "call_id": "c2"}])
    stack.get_json = lambda path: __import__("json").loads(  # type: ignore[method-assign]
        _get(stack.exporter_url + path, tls[0], f"wall:{API_PASSWORD}")[1])  # type: ignore[operator]
    wait_for(stack, lambda snap: processed(snap, stack.settings.topics.calls) >= 1, "the event")
