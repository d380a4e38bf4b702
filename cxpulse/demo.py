"""``cxpulse demo``: the whole pipeline on loopback with simulated traffic and a live table."""

from __future__ import annotations

import signal
import sys
import time
import urllib.error
from types import FrameType

from rich.console import Console
from rich.live import Live
from rich.text import Text

from cxpulse.settings import Settings
from cxpulse.stack import LocalStack
from cxpulse.terminal import call_table


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def run_demo(
    settings: Settings,
    *,
    duration: float | None,
    rate: float,
    seed: int,
    window: str = "15m",
    port: int | None = None,
) -> int:
    console = Console()
    if not console.is_terminal or console.width < 150:
        console = Console(width=150)  # the table needs the room; a pipe has no width
    started = time.monotonic()
    # SIGTERM behaves like Ctrl-C: fall through to the cleanup below.
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    stack = LocalStack(settings=settings, progress=lambda m: console.print(f"[dim]{time.monotonic() - started:5.1f}s[/] {m}"))
    code = 0
    try:
        stack.start_infra()
        stack.start_worker()
        url = stack.start_exporter(port)
        stack.start_simulator(rate=rate, seed=seed)
        console.print(
            f"\n[bold green]cxpulse is running[/] ({time.monotonic() - started:.1f}s)\n"
            f"  metrics   {url}/metrics\n  KPIs      {url}/api/kpis\n  health    {url}/healthz\n"
            f"  logs      {stack.workdir}\n"
            + ("  Ctrl-C to stop\n" if duration is None else f"  stopping after {duration:.0f}s\n")
        )
        deadline = None if duration is None else time.monotonic() + duration
        with Live(Text("waiting for the first figures…"), console=console, refresh_per_second=4) as live:
            while deadline is None or time.monotonic() < deadline:
                try:
                    live.update(call_table(stack.get_json("/api/kpis"), window))
                except (urllib.error.URLError, OSError, KeyError) as exc:
                    live.update(Text(f"exporter not answering: {exc}", style="red"))
                for proc in stack.procs.procs:
                    if not proc.alive():
                        raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.tail()}")
                time.sleep(1.0)
    except (KeyboardInterrupt, _Stop):
        console.print("\nstopping…")
    except Exception as exc:  # show why, then clean up like any other exit
        console.print(f"[bold red]demo failed:[/] {exc}")
        code = 1
    finally:
        codes = stack.stop()
        signal.signal(signal.SIGTERM, previous)
        console.print("\nstopped: " + ", ".join(f"{name} ({rc})" for name, rc in codes.items()))
    return code
