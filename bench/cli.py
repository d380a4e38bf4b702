"""``python -m bench run``: every approach against one broker, on one workload, in one run.

Steps (``--only`` picks some; names in ``STEPS``):

1. start one Tansu broker and one redis-server (stopped at the end, also on Ctrl-C);
2. generate the workload once and produce it per topic layout (``single``:
   one event per message; ``envelope``: batches of ``--envelope-size``);
3. throughput of each approach, each in its own process, from the start of the
   topics with a fresh group or a manual assignment;
4. freshness, API latency, one vs two workers, the RSS soak;
5. write ``bench/results/<UTC date-time>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from bench import cxpulse_runs, envs, machine, report
from bench.ceilings import ceilings
from bench.context import REPO, Context, log_line
from bench.workload import Layout, Workload, generate, produce
from cxpulse.settings import Settings
from streams.publisher import DEFAULT_LINGER_MS

STEPS = ("aiokafka", "quix", "bytewax", "faust", "faust-noop", "cxpulse", "cxpulse-stock", "envelope", "scaling",
         "freshness", "api", "soak", "broker")
SMOKE_SKIPS = {"faust-noop", "cxpulse-stock"}
RESULTS = REPO / "bench" / "results"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="Run the benchmark and write bench/results/<date>.json and .md")
    run.add_argument("--events", type=int, help="Workload size (default 200000; --smoke: 2000)")
    run.add_argument("--partitions", type=int, default=4, help="Partitions per topic (default 4)")
    run.add_argument("--only", help=f"Comma-separated steps to run (default all): {','.join(STEPS)}")
    run.add_argument("--skip", help="Comma-separated steps to leave out")
    run.add_argument("--soak-seconds", type=float, help="Soak duration (default 600; --smoke: 3)")
    run.add_argument("--soak-rate", type=float, default=150.0, help="Simulated calls/s during the soak (default 150, ~1k events/s)")
    run.add_argument("--freshness-rate", type=float, help="Events/s for the freshness run (default 5000; --smoke: 500)")
    run.add_argument("--freshness-seconds", type=float, help="Duration of the freshness run (default 30; --smoke: 2)")
    run.add_argument("--envelope-size", type=int, default=100, help="Events per envelope (default 100)")
    run.add_argument("--smoke", action="store_true", help="Small and quick: proves the harness works, numbers mean nothing")
    run.add_argument("--out", type=Path, default=RESULTS, help=f"Results folder (default {RESULTS})")
    run.add_argument("--workdir", type=Path, help="Keep logs here instead of a temporary folder")
    run.add_argument("--timeout", type=float, default=900.0, help="Per-step timeout in seconds (default 900)")
    rep = sub.add_parser("report", help="Recompute the ratios, ceilings and goals of a result JSON from its "
                         "measurements, and rewrite its Markdown summary")
    rep.add_argument("json", type=Path)
    return parser


class Run:
    def __init__(self, args: argparse.Namespace, ctx: Context) -> None:
        self.args = args
        self.ctx = ctx
        smoke = args.smoke
        self.events = args.events or (2000 if smoke else 200_000)
        self.soak_seconds = args.soak_seconds if args.soak_seconds is not None else (3.0 if smoke else 600.0)
        self.fresh_rate = args.freshness_rate or (500.0 if smoke else 5000.0)
        self.fresh_seconds = args.freshness_seconds or (2.0 if smoke else 30.0)
        # the smoke run proves every section works; the fix's own diagnostics (stock vs
        # fast consumer) add two Faust starts and nothing a smoke test needs
        only = set(args.only.split(",")) if args.only else set(STEPS) - (SMOKE_SKIPS if smoke else set())
        skip = set(args.skip.split(",")) if args.skip else set()
        unknown = (only | skip) - set(STEPS)
        if unknown:
            raise SystemExit(f"unknown steps {sorted(unknown)}; choose from {','.join(STEPS)}")
        self.steps = [s for s in STEPS if s in only and s not in skip]
        self.result: dict[str, Any] = {
            "schema": 1,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["python -m bench", *sys.argv[1:]]),
            "config": {
                "events": self.events, "partitions": args.partitions, "envelope_size": args.envelope_size,
                "smoke": smoke, "steps": self.steps, "soak_seconds": self.soak_seconds,
                "freshness_rate": self.fresh_rate, "freshness_seconds": self.fresh_seconds,
            },
            "machine": machine.describe(),
            "load": {"before": machine.load_average()},
            "availability": {},
            "capabilities": cxpulse_runs.worker_capabilities(),
            "throughput": {},
            "errors": [],
        }
        self.workload: Workload | None = None
        self.layouts: dict[str, Layout] = {}

    # ------------------------------------------------------------------ helpers

    def progress(self, message: str) -> None:
        self.ctx.progress(message)

    def record(self, name: str, fn: Callable[[], dict[str, Any]]) -> None:
        self.progress(f"{name}: {report.DESCRIPTIONS.get(name, '')}")
        started = time.monotonic()
        try:
            out = fn()
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            self.result["throughput"][name] = {"status": "failed", "events_per_s": None, "reason": str(exc).splitlines()[0][:300]}
            self.result["errors"].append(f"{name}: {exc}")
            self.progress(f"  FAILED: {exc}")
            traceback.print_exc()
            return
        self.result["throughput"][name] = {"status": "ok", **out}
        self.progress(f"  {out['events_per_s']:,.0f} events/s ({out.get('events', 0):,} events in {out.get('seconds', 0):.2f}s; step {time.monotonic() - started:.0f}s)")

    def skip(self, name: str, reason: str) -> None:
        self.result["throughput"][name] = {"status": "skipped", "events_per_s": None, "reason": reason}
        self.progress(f"{name}: skipped ({reason})")

    def layout(self, name: str) -> Layout:
        if name in self.layouts:
            return self.layouts[name]
        assert self.workload is not None
        prefix = f"bench{self.ctx.run_id}.{name}"
        layout = Layout(name, {stream: f"{prefix}.{stream}" for stream in self.workload.events})
        size = self.args.envelope_size if name == "envelope" else 0
        self.progress(f"producing the {name} layout…")
        asyncio.run(produce(self.ctx.bootstrap, self.workload, layout, self.args.partitions, envelope_size=size,
                            progress=self.progress))
        self.progress(f"  {layout.total_messages:,} messages in {layout.produce_seconds:.1f}s")
        self.result["workload"].setdefault("layouts", {})[name] = {
            "topics": layout.topics, "messages": layout.messages, "produce_seconds": layout.produce_seconds,
            "envelope_size": size,
        }
        self.layouts[name] = layout
        return layout

    def spec(self, layout: Layout, **extra: Any) -> dict[str, Any]:
        return {"bootstrap": self.ctx.bootstrap, "topics": list(layout.topics.values()), "expected": self.workload.total,  # type: ignore[union-attr]
                "partitions": self.args.partitions, "group": self.ctx.new_id("g"), "timeout": self.args.timeout,
                "workdir": str(self.ctx.workdir), **extra}

    # ------------------------------------------------------------------- steps

    def run(self) -> None:
        ctx = self.ctx
        ctx.start()
        self.progress(f"generating {self.events:,} events (realistic mix)…")
        self.workload = generate(self.events)
        wl = self.workload
        self.result["workload"] = {"events": wl.total, "per_stream": wl.counts, "mean_bytes": round(wl.mean_bytes, 1),
                                   "generated_seconds": round(wl.generated_in, 1), "event_time_span_s": wl.span_seconds}
        self.progress(f"  {wl.total:,} events {wl.counts}, mean {wl.mean_bytes:.0f} B, in {wl.generated_in:.1f}s")
        single = self.layout("single")
        streams = {topic: stream for stream, topic in single.topics.items()}
        steps = self.steps
        timeout = self.args.timeout
        caps = self.result["capabilities"]

        if "aiokafka" in steps:
            self.record("aiokafka", lambda: ctx.run_runner("aiokafka", "bench.runners.aiokafka_loop",
                                                           self.spec(single, streams=streams), timeout=timeout))
            env = self.layout("envelope")
            env_streams = {topic: stream for stream, topic in env.topics.items()}
            self.record("aiokafka_envelope", lambda: ctx.run_runner(
                "aiokafka-envelope", "bench.runners.aiokafka_loop", self.spec(env, streams=env_streams, envelope=True),
                timeout=timeout))
        for name, module in (("quix", "bench.runners.quix_count"), ("bytewax", "bench.runners.bytewax_count")):
            if name not in steps:
                continue
            found = envs.find(name, include_venvs=not self.args.smoke)
            self.result["availability"][name] = found.as_dict()
            if not found.available:
                self.skip(name, f"not installed ({found.reason})")
                continue
            self.record(name, lambda: ctx.run_runner(name, module, self.spec(single), python=found.python, timeout=timeout))
        if "faust" in steps:
            self.record("faust_table", lambda: ctx.run_runner("faust-table", "bench.runners.faust_agent",
                                                              self.spec(single, mode="table", consumer="stock"), timeout=timeout))
        if "faust-noop" in steps:
            tuned = {"stream_buffer_maxsize": 16384}
            variants: tuple[tuple[str, str, dict[str, Any], bool], ...] = (
                ("stock", "stock", {}, False), ("fast", "fast", {}, False), ("fast_tuned", "fast", tuned, False),
                ("fast_tuned_lean", "fast", {**tuned, "Monitor": "processors.faust_lean:LeanMonitor"}, True))
            for label, consumer, options, raw_schema in variants:
                self.record(f"faust_noop_{label}", lambda: ctx.run_runner(
                    f"faust-noop-{label}", "bench.runners.faust_agent",
                    self.spec(single, mode="noop", consumer=consumer, faust_options=options, raw_schema=raw_schema),
                    timeout=timeout))
        partitions = self.args.partitions
        if "cxpulse" in steps:
            self.record("cxpulse", lambda: cxpulse_runs.measure_workers(ctx, wl, single.topics, partitions, label="cxpulse",
                                                                        timeout=timeout))
        if "cxpulse-stock" in steps:
            if caps["fast_consumer_setting"]:
                self.record("cxpulse_stock_consumer", lambda: cxpulse_runs.measure_workers(
                    ctx, wl, single.topics, partitions, label="cxpulse-stock", settings_extra={"fast_consumer": False},
                    timeout=timeout))
            else:
                self.skip("cxpulse_stock_consumer", "this worker has no fast_consumer setting (processors/app.py patch not applied)")
        if "envelope" in steps:
            if caps["envelopes"]:
                env = self.layout("envelope")
                self.record("cxpulse_envelope", lambda: cxpulse_runs.measure_workers(
                    ctx, wl, env.topics, partitions, label="cxpulse-envelope", timeout=timeout))
            else:
                self.skip("cxpulse_envelope", "this worker does not unpack envelopes (processors/batch.py patch not applied)")
        if "scaling" in steps:
            self.record("cxpulse_2_workers", lambda: cxpulse_runs.measure_workers(
                ctx, wl, single.topics, partitions, label="cxpulse-2w", workers=2, timeout=timeout))
        self.result["ratios"] = report.ratios(self.result)

        stack_steps = [s for s in ("freshness", "api", "soak") if s in steps]
        if stack_steps:
            self.progress(f"{', '.join(stack_steps)}: one worker and one exporter on fresh topics")
            stack = self.start_stack([{"api": "api_latency"}.get(name, name) for name in stack_steps])
            if stack is None:
                return
            try:
                if "freshness" in steps:
                    self.section("freshness", lambda: cxpulse_runs.freshness(
                        stack, wl, rate=self.fresh_rate, seconds=self.fresh_seconds))
                if "api" in steps:
                    smoke = self.args.smoke
                    self.section("api_latency", lambda: cxpulse_runs.api_latency(
                        stack, queues=5 if smoke else 50, back_to_back=10 if smoke else 100, spaced=2 if smoke else 20))
                if "soak" in steps:
                    sample = 0.5 if self.soak_seconds < 60 else 5.0
                    warmup = min(120.0, self.soak_seconds * 0.25)
                    self.section("soak", lambda: cxpulse_runs.soak(stack, seconds=self.soak_seconds,
                                                                    calls_per_second=self.args.soak_rate,
                                                                    sample_every=sample, warmup=warmup))
            finally:
                stack.stop()
        if "freshness" in steps and caps["envelopes"]:
            self.progress("freshness with envelopes: a second worker and exporter on fresh topics (no dedupe hits)")
            stack = self.start_stack(["freshness_envelope"])
            if stack is None:
                return
            try:
                envelope = {"size": self.args.envelope_size, "linger": 0.05}
                self.section("freshness_envelope", lambda: cxpulse_runs.freshness(
                    stack, wl, rate=self.fresh_rate, seconds=self.fresh_seconds, envelope=envelope))
            finally:
                stack.stop()
        if "freshness" in steps:
            # the same with Kafka's default producer linger: what the publisher's 50 ms buys
            self.progress("freshness with a 5 ms producer linger (Kafka's default): another worker and exporter on fresh topics")
            stack = self.start_stack(["freshness_linger5"])
            if stack is None:
                return
            try:
                self.section("freshness_linger5", lambda: cxpulse_runs.freshness(
                    stack, wl, rate=self.fresh_rate, seconds=self.fresh_seconds, linger_ms=5))
            finally:
                stack.stop()

        if "broker" in steps:
            self.section("broker_probe", self.broker_probe)

    def broker_probe(self) -> dict[str, Any]:
        """The broker alone under the freshness step's traffic (``cxpulse_runs.broker_alone``),
        once with Kafka's default producer linger and once with the publisher's."""
        assert self.workload is not None
        out: dict[str, Any] = {}
        for linger in (5, DEFAULT_LINGER_MS):
            self.progress(f"  {len(self.workload.events)} topics x {self.args.partitions} partitions, "
                          f"{self.fresh_rate:,.0f} events/s for {self.fresh_seconds:.0f}s, producer linger {linger} ms, "
                          "the aiokafka loop reading them back")
            out[f"linger_{linger}ms"] = cxpulse_runs.broker_alone(
                self.ctx, self.workload, self.args.partitions, rate=self.fresh_rate, seconds=self.fresh_seconds,
                linger_ms=linger, fetch_max_wait_ms=Settings.model_fields["consumer_fetch_max_wait_ms"].default,
                sample_s=min(5.0, self.fresh_seconds / 2))
        return out

    def start_stack(self, sections: Sequence[str]) -> cxpulse_runs.Stack | None:
        """A worker and an exporter on fresh topics; None (each section marked failed) if they would not start."""
        assert self.workload is not None
        try:
            return cxpulse_runs.Stack(self.ctx, self.args.partitions, list(self.workload.events))
        except Exception as exc:
            for name in sections:
                self.result[name] = {"status": "failed", "reason": str(exc)[:300]}
            self.result["errors"].append(f"stack: {exc}")
            return None

    def section(self, name: str, fn: Callable[[], dict[str, Any]]) -> None:
        self.progress(f"{name}…")
        try:
            self.result[name] = out = fn()
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            self.result[name] = {"status": "failed", "reason": str(exc).splitlines()[0][:300]}
            self.result["errors"].append(f"{name}: {exc}")
            self.progress(f"  FAILED: {exc}")
            traceback.print_exc()
            return
        summary = {k: v for k, v in out.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(summary.items())[:8])
        self.progress(f"  {shown}")

    def finish(self, interrupted: bool) -> tuple[Path, Path]:
        self.result["load"]["after"] = machine.load_average()
        self.result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.result["interrupted"] = interrupted
        out: Path = self.args.out
        out.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ") + ("-smoke" if self.args.smoke else "")
        json_path = out / f"{stamp}.json"
        return json_path, save(self.result, json_path)


def save(result: dict[str, Any], json_path: Path) -> Path:
    """Derive the ratios, ceilings and goals from the measurements, then write the JSON
    and its Markdown summary beside it (returned). ``bench report`` calls this on a past
    run, so a change in how they are derived applies without measuring again."""
    result["ratios"] = report.ratios(result)
    result["ceilings"] = ceilings(result)
    result["goals"] = report.goals(result)
    json_path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    md_path = json_path.with_suffix(".md")
    md_path.write_text(report.markdown(result))
    return md_path


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "report":
        print(save(json.loads(args.json.read_text()), args.json))
        return 0
    signal.signal(signal.SIGTERM, _sigterm)
    keep = args.workdir is not None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cxpulse-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(workdir)
    run = Run(args, ctx)
    log_line(f"cxpulse benchmark: {run.events:,} events, steps {','.join(run.steps)}; logs in {workdir}")
    log_line(f"load average before: {run.result['load']['before']}")
    interrupted = False
    try:
        run.run()
    except KeyboardInterrupt:
        interrupted = True
        log_line("interrupted: stopping every process and writing what was measured")
    except Exception as exc:
        run.result["errors"].append(f"run: {exc}")
        traceback.print_exc()
    finally:
        ctx.stop()
        json_path, md_path = run.finish(interrupted)
        log_line(f"load average after: {run.result['load']['after']}")
        log_line(f"wrote {json_path} and {md_path}")
        if not keep and not run.result["errors"]:
            shutil.rmtree(workdir, ignore_errors=True)
    print(md_path.read_text())
    return 130 if interrupted else (1 if run.result["errors"] else 0)
