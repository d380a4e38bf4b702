"""Shared state of one benchmark run: broker, Redis, work folder, children, progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.runners import parse
from cxpulse.embedded import Service, start_broker, start_redis
from cxpulse.procs import ManagedProcess, ProcessSet, wait_until
from cxpulse.settings import Settings, load_settings, redis_url_of

REPO = Path(__file__).resolve().parent.parent


def log_line(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Context:
    workdir: Path
    progress: Callable[[str], None] = log_line
    procs: ProcessSet = field(default_factory=ProcessSet)
    broker: Service | None = None
    redis: Service | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    _children: int = 0

    # ----------------------------------------------------------------- services

    def start(self) -> None:
        self.progress("starting Tansu broker and redis-server…")
        self.broker = start_broker(self.procs, self.workdir)
        self.redis = start_redis(self.procs, self.workdir)
        self.progress(f"  broker {self.broker.url}, redis 127.0.0.1:{self.redis.port}")

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None
        return self.broker.url.removeprefix("kafka://")

    def new_id(self, label: str) -> str:
        self._children += 1
        return f"b{self.run_id}{label}{self._children}"

    def stop(self) -> None:
        self.procs.stop_all()

    # ---------------------------------------------------------------- children

    def env(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        return {"PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO), "PYTHONUNBUFFERED": "1"}

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> ManagedProcess:
        self._children += 1
        log = self.workdir / "logs" / f"{self._children:02d}-{name}.log"
        return self.procs.add(ManagedProcess(name, args, log, {**self.env(), **(env or {})}))

    def finish(self, proc: ManagedProcess, timeout: float) -> tuple[int | None, str]:
        """Wait for a child to exit (or stop it at the timeout); its code and output."""
        try:
            proc.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.progress(f"  {proc.name} still running after {timeout:.0f}s: stopping it")
        return self.stop_child(proc)

    def stop_child(self, proc: ManagedProcess) -> tuple[int | None, str]:
        """Stop a child now (SIGTERM, then SIGKILL); its code and output."""
        code = proc.stop(timeout=10)
        if proc in self.procs.procs:
            self.procs.procs.remove(proc)
        return code, proc.log_path.read_text(errors="replace") if proc.log_path.exists() else ""

    def run_runner(self, name: str, module: str, spec: dict[str, Any], python: str | None = None,
                   timeout: float = 900.0) -> dict[str, Any]:
        """A ``bench.runners`` module in its own process; its ``BENCH_RESULT``."""
        proc = self.spawn(name, [python or sys.executable, "-m", module, json.dumps(spec)])
        code, output = self.finish(proc, timeout)
        result = parse(output)
        if result is None or "error" in result:
            tail = "\n".join(output.splitlines()[-15:])
            raise RuntimeError(f"{name} exited with {code} and no result; log {proc.log_path}:\n{tail}")
        return result

    # ---------------------------------------------------------------- settings

    def settings(self, app_id: str, topics: dict[str, str], partitions: int, **extra: Any) -> Settings:
        assert self.broker is not None and self.redis is not None
        values: dict[str, Any] = {
            "kafka_url": self.broker.url,
            "redis_url": self.redis.url,
            "app_id": app_id,
            "topics": {**topics, "deadletter": f"{app_id}.deadletter", "followups": f"{app_id}.followups",
                       "partitions": partitions},
            **extra,
        }
        return load_settings(None, **values)

    def settings_env(self, settings: Settings, name: str) -> dict[str, str]:
        path = self.workdir / f"{name}.settings.json"
        values = settings.model_dump(mode="json")
        values["redis_url"] = redis_url_of(settings)
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(json.dumps(values))
        return {"CXPULSE_CONFIG": str(path)}

    def start_worker(self, settings: Settings, name: str, wait_ready: bool = True) -> ManagedProcess:
        proc = self.spawn(name, [sys.executable, "-m", "cxpulse", "worker"], self.settings_env(settings, name))
        if wait_ready:
            self.wait_ready(proc)
        return proc

    def wait_ready(self, proc: ManagedProcess, timeout: float = 60.0) -> None:
        wait_until(lambda: "Worker ready" in _read(proc.log_path), timeout, f"{proc.name} ready", proc, interval=0.1)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
