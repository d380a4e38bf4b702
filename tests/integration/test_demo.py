"""``cxpulse demo`` as a user runs it: it shows figures, stops on time or on Ctrl-C,
and leaves no process behind, even when it is itself killed with SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


class Demo:
    """Runs the demo, collecting its output and every descendant it ever had."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cxpulse", "demo", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.output: list[str] = []
        self.descendants: dict[int, str] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def text(self) -> str:
        return "".join(self.output)

    def watch(self) -> None:
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                try:
                    # the latest non-empty one: a child seen between fork and exec still
                    # shows our cmdline, and an exiting (zombie) child shows none
                    cmdline = " ".join(child.cmdline())[:120]
                except psutil.Error:
                    continue
                if cmdline or child.pid not in self.descendants:
                    self.descendants[child.pid] = cmdline
        except psutil.NoSuchProcess:
            pass

    def wait_for_text(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert self.proc.poll() is None, f"demo exited early:\n{self.text()}"
            assert time.monotonic() < deadline, f"{needle!r} not shown within {timeout}s:\n{self.text()}"
            self.watch()
            time.sleep(0.2)

    def run_until_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, "demo did not stop"
            self.watch()
            time.sleep(0.2)
        self._reader.join(5)
        return self.proc.returncode

    def leftovers(self, grace: float = 10.0) -> dict[int, str]:
        deadline = time.monotonic() + grace
        while True:
            alive = {pid: cmd for pid, cmd in self.descendants.items() if _alive(pid)}
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _check_started(demo: Demo) -> None:
    names = " ".join(demo.descendants.values())
    for part in ("tansu", "redis-server", "cxpulse worker", "cxpulse exporter", "cxpulse simulate"):
        assert part in names, f"{part} was not started: {demo.descendants}"


def _timer_abandons(api: str) -> float:
    """Carts the worker's inactivity timer abandoned so far (0 while the API is not up)."""
    try:
        with urllib.request.urlopen(api, timeout=2) as response:
            carts = json.loads(response.read())["carts"]
    except (OSError, ValueError, KeyError):
        return 0.0
    return sum(seg["totals"].get("abandoned_timeout", 0.0) for seg in carts["segments"])


def _figures(output: str) -> dict[str, list[float]]:
    """The numbers of the last survey, ticket and cart lines of the printed table."""
    tail = output[output.rindex("Surveys ("):]
    surveys, rest = tail.split("Tickets", 1)
    tickets, carts = rest.split("Carts", 1)
    number = r"\s+([\d.]+)"
    return {
        "survey samples": [float(n) for n in re.findall(r"n=(\d+)", surveys)],
        "ticket backlog": [float(n) for n in re.findall("backlog" + number, tickets)],
        "ticket TTR": [float(n) for n in re.findall(r"TTR \(24h\)\s+(\d+)", tickets)],
        "cart completion": [float(n) for n in re.findall("completion" + number, carts)],
        "carts open": [float(n) for n in re.findall("open" + number, carts)],
    }


def test_demo_with_duration_exits_zero_and_leaves_nothing() -> None:
    demo = Demo("--duration", "20", "--rate", "5")
    started = time.monotonic()
    demo.wait_for_text("/api/kpis", timeout=15)  # the URLs within 15 s
    assert time.monotonic() - started < 15
    api = re.search(r"KPIs\s+(\S+/api/kpis)", demo.text()).group(1)  # type: ignore[union-attr]
    timer_abandons = 0.0
    while demo.proc.poll() is None and not timer_abandons:  # the demo's short cart timeout at work
        timer_abandons = _timer_abandons(api)
        demo.watch()
        time.sleep(1)
    code = demo.run_until_exit(timeout=60)
    output = demo.text()
    assert code == 0, output
    assert "/metrics" in output and "/healthz" in output
    assert "demo only: cart_abandon_timeout_seconds=90" in output, output
    assert "ALL" in output and "Service level" in output, output  # the live table was drawn
    # every stream moves within the 20 s: the warm history and the live traffic
    figures = _figures(output)
    assert len(figures["survey samples"]) == 3 and all(figures["survey samples"]), (figures, output)
    assert all(values and values[0] > 0 for values in figures.values()), (figures, output)
    assert timer_abandons > 0, output
    _check_started(demo)
    assert demo.leftovers() == {}


def test_demo_stops_everything_on_ctrl_c() -> None:
    demo = Demo("--rate", "5")
    demo.wait_for_text("Ctrl-C to stop", timeout=20)
    time.sleep(2)
    demo.watch()
    demo.proc.send_signal(signal.SIGINT)
    code = demo.run_until_exit(timeout=40)
    assert code == 0, demo.text()
    assert "stopping" in demo.text()
    _check_started(demo)
    assert demo.leftovers() == {}


def test_demo_killed_with_sigkill_leaves_no_orphans() -> None:
    demo = Demo("--rate", "5")
    demo.wait_for_text("Ctrl-C to stop", timeout=20)
    demo.watch()
    _check_started(demo)
    os.kill(demo.proc.pid, signal.SIGKILL)
    demo.run_until_exit(timeout=10)
    # the children get SIGTERM from the kernel when their parent dies
    assert demo.leftovers(grace=20) == {}


def test_demo_shortens_the_cart_timeout_only_when_the_user_left_it_alone() -> None:
    from cxpulse.demo import DEMO_CART_ABANDON_TIMEOUT_SECONDS, demo_settings
    from cxpulse.settings import Settings

    changed, notes = demo_settings(Settings(), environ={})
    assert changed.cart_abandon_timeout_seconds == DEMO_CART_ABANDON_TIMEOUT_SECONDS
    assert len(notes) == 1 and "demo only" in notes[0]
    for settings, environ in (
        (Settings(cart_abandon_timeout_seconds=600), {}),  # another value, from a file or a flag
        (Settings(), {"CXPULSE_CART_ABANDON_TIMEOUT_SECONDS": "1800"}),  # the default, chosen on purpose
    ):
        kept, notes = demo_settings(settings, environ=environ)
        assert kept.cart_abandon_timeout_seconds == settings.cart_abandon_timeout_seconds and notes == []
