"""Fixtures that start real components: Redis and the Tansu broker, on free loopback ports.

Nothing here is mocked: a test that needs Redis gets a real ``redis-server``; one
that needs Kafka gets the real broker. Every process is stopped at the end of its
scope, and would die with the test run anyway (parent-death signal).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from cxpulse.embedded import Service, start_broker, start_redis
from cxpulse.procs import ProcessSet


def require_binary(name: str) -> str:
    """Path of ``name``; skipped with a reason locally, a failure in CI (CI must not skip)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (Debian package; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run every test: {message}")
    pytest.skip(message)
    raise AssertionError  # unreachable


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, valid a day, made with ``openssl`` (EC: fast)."""
    openssl = require_binary("openssl")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


@pytest.fixture(scope="session")
def processes() -> Iterator[ProcessSet]:
    procs = ProcessSet()
    with procs.guard():
        yield procs


@pytest.fixture(scope="session")
def redis_service(processes: ProcessSet, tmp_path_factory: pytest.TempPathFactory) -> Service:
    return start_redis(processes, Path(tmp_path_factory.mktemp("redis")))


@pytest.fixture(scope="session")
def broker_service(processes: ProcessSet, tmp_path_factory: pytest.TempPathFactory) -> Service:
    return start_broker(processes, Path(tmp_path_factory.mktemp("broker")))


@pytest.fixture
def app_id() -> str:
    """A fresh key prefix / consumer group per test, so tests sharing Redis never mix."""
    return f"t{uuid.uuid4().hex[:10]}"
