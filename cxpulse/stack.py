"""A whole cxpulse deployment on loopback: broker, Redis, workers, exporter.

The demo and the integration tests drive the same class, so what the tests prove
is what ``make demo`` runs. Children get their settings through ``CXPULSE_*``
environment variables (never argv, which other users can read), and all of them
are stopped, in reverse order, by ``stop()``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

from cxpulse.embedded import Service, python_module_cmd, start_broker, start_redis
from cxpulse.procs import ManagedProcess, ProcessSet, free_port, http_ok, wait_until
from cxpulse.settings import SECRET_FIELDS, Settings, load_settings


class LocalStack:
    def __init__(
        self,
        workdir: Path | None = None,
        *,
        settings: Settings | None = None,
        progress: Callable[[str], None] = lambda message: None,
        redis_password: str | None = None,
    ) -> None:
        self.redis_password = redis_password
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="cxpulse-")
        self.workdir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.procs = ProcessSet()
        self.base = settings or load_settings()
        self.progress = progress
        self.broker: Service | None = None
        self.redis: Service | None = None
        self.exporter_url: str | None = None
        self.settings = self.base
        self._workers = 0

    # ---------------------------------------------------------------- lifecycle

    def start_infra(self) -> Settings:
        started = time.monotonic()
        self.progress("starting Kafka-protocol broker (Tansu)…")
        self.broker = start_broker(self.procs, self.workdir)
        self.progress(f"  broker on {self.broker.url} ({time.monotonic() - started:.1f}s)")
        self.progress("starting redis-server…")
        self.redis = start_redis(self.procs, self.workdir, password=self.redis_password)
        self.progress(f"  redis on 127.0.0.1:{self.redis.port} ({time.monotonic() - started:.1f}s)")
        self.settings = load_settings(
            None,
            **{**self.base.model_dump(), "kafka_url": self.broker.url, "redis_url": self.redis.url},
        )
        from streams.topics import ensure_topics

        asyncio.run(ensure_topics(self.settings))
        return self.settings

    def child_env(self, **extra: str) -> dict[str, str]:
        """Children read the complete settings from a private file (secrets included)."""
        path = self.workdir / "settings.json"
        values = self.settings.model_dump(mode="json")
        for name in SECRET_FIELDS:  # a JSON dump masks secrets; the private file must not
            secret = getattr(self.settings, name)
            values[name] = secret.get_secret_value() if secret is not None else None
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(json.dumps(values))
        env = {"CXPULSE_CONFIG": str(path), "PYTHONUNBUFFERED": "1"}
        env.update(extra)
        return env

    def start_worker(self, wait_ready: bool = True, timeout: float = 30.0) -> ManagedProcess:
        self._workers += 1
        name = f"worker-{self._workers}"
        self.progress(f"starting {name}…")
        proc = self.procs.add(ManagedProcess(name, python_module_cmd("worker"), self.workdir / f"{name}.log", self.child_env()))
        if wait_ready:
            wait_until(lambda: "Worker ready" in _read(proc.log_path), timeout, f"{name} ready", proc, interval=0.1)
        return proc

    def start_exporter(self, port: int | None = None, timeout: float = 20.0) -> str:
        port = port or free_port()
        self.progress("starting exporter…")
        proc = self.procs.add(
            ManagedProcess(
                "exporter",
                python_module_cmd("exporter"),
                self.workdir / "exporter.log",
                self.child_env(CXPULSE_EXPORTER_PORT=str(port), CXPULSE_EXPORTER_HOST="127.0.0.1"),
            )
        )
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(url + "/healthz"), timeout, "exporter /healthz", proc, interval=0.1)
        self.exporter_url = url
        return url

    def start_exporter_tls(self, cafile: Path, port: int | None = None, timeout: float = 20.0) -> str:
        """Like ``start_exporter`` for an exporter configured with TLS (health checked over HTTPS)."""
        import ssl

        port = port or free_port()
        proc = self.procs.add(
            ManagedProcess(
                "exporter", python_module_cmd("exporter"), self.workdir / "exporter.log",
                self.child_env(CXPULSE_EXPORTER_PORT=str(port), CXPULSE_EXPORTER_HOST="127.0.0.1"),
            )
        )
        url = f"https://127.0.0.1:{port}"
        context = ssl.create_default_context(cafile=str(cafile))
        wait_until(lambda: http_ok(url + "/healthz", context), timeout, "exporter /healthz over TLS", proc, interval=0.1)
        self.exporter_url = url
        return url

    def start_simulator(self, rate: float, seed: int, duration: float | None = None) -> ManagedProcess:
        args = ["simulate", "--rate", str(rate), "--seed", str(seed)]
        if duration:
            args += ["--duration", str(duration)]
        return self.procs.add(
            ManagedProcess("simulator", python_module_cmd(*args), self.workdir / "simulator.log", self.child_env())
        )

    def restart_redis(self, down_seconds: float = 0.0, hard: bool = False) -> None:
        """Stop Redis (SIGKILL if ``hard``), wait, start it again on the same port and data."""
        assert self.redis is not None
        old = self.redis.proc
        if hard:
            old.kill()
        else:
            old.stop()
        self.procs.procs.remove(old)
        time.sleep(down_seconds)
        self.redis = start_redis(self.procs, self.workdir, port=self.redis.port, password=self.redis_password)

    def pause_broker(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open but nothing answers."""
        assert self.broker is not None
        self.broker.proc.signal(signal.SIGSTOP)

    def resume_broker(self) -> None:
        assert self.broker is not None
        self.broker.proc.signal(signal.SIGCONT)

    def stop(self) -> dict[str, int | None]:
        if self.broker is not None:
            self.resume_broker()  # a frozen broker would ignore SIGTERM
        codes = self.procs.stop_all()
        if self._tmp is not None:
            self._tmp.cleanup()
        return codes

    def __enter__(self) -> "LocalStack":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ reading

    def get_json(self, path: str) -> Any:
        assert self.exporter_url, "exporter not started"
        with urllib.request.urlopen(self.exporter_url + path, timeout=5) as response:
            return json.loads(response.read())

    def get_text(self, path: str) -> str:
        assert self.exporter_url, "exporter not started"
        with urllib.request.urlopen(self.exporter_url + path, timeout=5) as response:
            return response.read().decode()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


