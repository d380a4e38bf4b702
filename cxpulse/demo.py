"""``cxpulse demo``: the whole pipeline on loopback with simulated traffic and a live table."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import urllib.error
from collections.abc import Mapping
from types import FrameType
from typing import Any, Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text

from cxpulse.settings import Settings
from cxpulse.stack import LocalStack
from cxpulse.terminal import table_console
from cxpulse.top import render
from streams.simulator import publish_history


# Demo-only values. A cart left idle is counted abandoned after 90 s instead of 30 min,
# so timer abandons show up while someone watches; the traffic of the last 2 min is
# published at start, so survey answers, resolution times and checkouts have figures
# from the first refresh instead of after the first lifecycles end.
DEMO_CART_ABANDON_TIMEOUT_SECONDS = 90.0
DEMO_HISTORY_SECONDS = 120.0


class _Stop(Exception):
    pass


def demo_settings(settings: Settings, environ: Mapping[str, str] = os.environ) -> tuple[Settings, list[str]]:
    """The demo's own cart timeout unless the user chose one; plus a banner line per change.

    "Chose" means a value other than the default, or the variable set at all (so
    ``CXPULSE_CART_ABANDON_TIMEOUT_SECONDS=1800`` keeps the production value).
    """
    default = Settings.model_fields["cart_abandon_timeout_seconds"].default
    if settings.cart_abandon_timeout_seconds != default or "CXPULSE_CART_ABANDON_TIMEOUT_SECONDS" in environ:
        return settings, []
    timeout = DEMO_CART_ABANDON_TIMEOUT_SECONDS
    changed = settings.model_copy(update={"cart_abandon_timeout_seconds": timeout})
    return changed, [
        f"demo only: cart_abandon_timeout_seconds={timeout:.0f} (default {default:.0f}; "
        "set CXPULSE_CART_ABANDON_TIMEOUT_SECONDS to choose)"
    ]


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def _loop(
    stack: LocalStack,
    deadline: float | None,
    show: Callable[[Any], Any],
    window: str,
    progress: Callable[[str], Any] | None = None,
    every: float = 5.0,
) -> None:
    """Refresh once a second until the deadline; a dead child ends the demo with its log."""
    last_progress = 0.0
    while deadline is None or time.monotonic() < deadline:
        try:
            snapshot = stack.get_json("/api/kpis")
            show(render(snapshot, window))
            if progress is not None and time.monotonic() - last_progress >= every:
                last_progress = time.monotonic()
                topics = snapshot["pipeline"]["topics"]
                done = int(sum(t["processed"] for t in topics.values()))
                waiting = snapshot["calls"]["all"]["live"]["waiting"]
                progress(f"{snapshot['generated_at'][11:19]} events processed {done} · calls waiting {waiting}")
        except (urllib.error.URLError, OSError, KeyError) as exc:
            show(Text(f"exporter not answering: {exc}", style="red"))
        for proc in stack.procs.procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.tail()}")
        time.sleep(1.0)


def run_demo(
    settings: Settings,
    *,
    duration: float | None,
    rate: float,
    seed: int,
    window: str = "15m",
    port: int | None = None,
) -> int:
    console = table_console()
    started = time.monotonic()
    settings, notes = demo_settings(settings)
    history = min(DEMO_HISTORY_SECONDS, settings.allowed_lateness_seconds / 2)
    # SIGTERM behaves like Ctrl-C: fall through to the cleanup below.
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    stack = LocalStack(settings=settings, progress=lambda m: console.print(f"[dim]{time.monotonic() - started:5.1f}s[/] {m}"))
    code = 0
    try:
        stack.start_infra()
        # the worker joins its consumer group (a few seconds) while the exporter starts;
        # the table fills in as soon as the first batch is stored
        stack.start_worker(wait_ready=False)
        url = stack.start_exporter(port)
        sent = asyncio.run(publish_history(stack.settings, rate=rate, seed=seed, seconds=history))
        stack.start_simulator(rate=rate, seed=seed)
        console.print(
            f"\n[bold green]cxpulse is running[/] ({time.monotonic() - started:.1f}s)\n"
            f"  wall      {url}/wall\n  metrics   {url}/metrics\n  KPIs      {url}/api/kpis\n"
            f"  health    {url}/healthz\n"
            f"  logs      {stack.workdir}\n"
            f"  history   {sum(sent.values())} events of the last {history:.0f}s published first\n"
            + "".join(f"  {note}\n" for note in notes)
            + ("  Ctrl-C to stop\n" if duration is None else f"  stopping after {duration:.0f}s\n")
        )
        deadline = None if duration is None else time.monotonic() + duration
        if console.is_terminal:
            with Live(Text("waiting for the first figures…"), console=console, refresh_per_second=4) as live:
                _loop(stack, deadline, lambda frame: live.update(frame), window)
        else:
            # a pipe or a CI log: a progress line every 5 s, the full table at the end
            last: list[Any] = []
            _loop(stack, deadline, last.append, window, progress=lambda line: console.print(line), every=5.0)
            if last:
                console.print(last[-1])
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
