"""Children stop when told, take their own children with them, and die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from cxpulse.procs import ManagedProcess, ProcessSet, free_port, port_open


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_stop_reaches_grandchildren(tmp_path: Path) -> None:
    procs = ProcessSet()
    script = "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    proc = procs.add(ManagedProcess("parent", [sys.executable, "-c", script], tmp_path / "p.log"))
    deadline = time.monotonic() + 10
    while not psutil.Process(proc.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    (grandchild,) = psutil.Process(proc.pid).children()
    codes = procs.stop_all(timeout=5)
    assert codes["parent"] == -signal.SIGTERM
    assert _gone(grandchild.pid)


def test_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    parent = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from cxpulse.procs import ManagedProcess
        child = ManagedProcess("child", ["sleep", "300"], Path({str(tmp_path / 'c.log')!r}))
        Path({str(marker)!r}).write_text(str(child.pid))
        time.sleep(300)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        child_pid = int(marker.read_text())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        assert _gone(child_pid), "child outlived its SIGKILLed parent"
    finally:
        proc.kill()


def test_free_port_is_loopback_and_free() -> None:
    port = free_port()
    assert 1024 < port < 65536
    assert not port_open("127.0.0.1", port)
