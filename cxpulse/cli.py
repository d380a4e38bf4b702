"""``cxpulse``: one command for the demo, the production processes and the tools."""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from cxpulse.settings import Settings, load_settings


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML settings file (also CXPULSE_CONFIG)")
    parser.add_argument("--kafka-url", help="Kafka bootstrap, e.g. kafka://host:9092 (CXPULSE_KAFKA_URL)")
    parser.add_argument("--redis-url", help="redis://[:password@]host:port/db (CXPULSE_REDIS_URL)")
    parser.add_argument("--app-id", help="Consumer group and Redis key prefix (CXPULSE_APP_ID)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING... (CXPULSE_LOG_LEVEL)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxpulse", description="Real-time customer-experience KPIs from Kafka events.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="Run broker, Redis, worker, exporter and simulated traffic locally")
    _common(demo)
    demo.add_argument("--duration", type=float, help="Stop after N seconds (default: until Ctrl-C)")
    demo.add_argument("--rate", type=float, default=8.0, help="Simulated calls per second (default 8)")
    demo.add_argument("--seed", type=int, help="Traffic seed (default: random, so event ids never repeat)")
    demo.add_argument("--window", default="15m", choices=["5m", "15m", "1h", "today"], help="Window shown")
    demo.add_argument("--port", type=int, help="Exporter port (default: a free one)")

    worker = sub.add_parser("worker", help="Consume the event topics and fold them into Redis")
    _common(worker)

    exporter = sub.add_parser("exporter", help="Serve /metrics, /api/kpis and /healthz from Redis")
    _common(exporter)
    exporter.add_argument("--host", help="Bind address (default 127.0.0.1)")
    exporter.add_argument("--port", type=int, help="Port (default 9477)")

    publish = sub.add_parser("publish", help="Validate and publish JSON-lines events from a file or stdin")
    _common(publish)
    publish.add_argument("file", nargs="?", default="-", help="JSON-lines file, or - for stdin")
    publish.add_argument("--linger-ms", type=int,
                         help="Milliseconds the producer holds a batch open for more events "
                              "(default: the publisher's, streams.publisher.DEFAULT_LINGER_MS = 50)")
    publish.add_argument("--envelope", action="store_true",
                         help="Pack events into batch envelopes (one per partition; the worker unpacks them)")
    publish.add_argument("--envelope-max-events", type=int,
                         help="Events per envelope (default: the publisher's, "
                              "streams.publisher.DEFAULT_ENVELOPE_MAX_EVENTS = 100)")
    publish.add_argument("--envelope-max-bytes", type=int,
                         help="Bytes per envelope (default and ceiling: max_message_bytes)")
    publish.add_argument("--envelope-linger", type=float,
                         help="Seconds a partly filled envelope waits for more events (default: the publisher's, "
                              "streams.publisher.DEFAULT_ENVELOPE_LINGER = 0.05)")

    top = sub.add_parser("top", help="Live terminal view of a running exporter's KPIs, with threshold states")
    top.add_argument("--url", default="http://127.0.0.1:9477", help="Exporter base URL (default http://127.0.0.1:9477)")
    top.add_argument("--window", default="15m", choices=["5m", "15m", "1h", "today"], help="Call window (default 15m)")
    top.add_argument("--interval", type=float, default=1.0, help="Seconds between refreshes (default 1)")
    top.add_argument("--duration", type=float, help="Stop after N seconds (default: until Ctrl-C)")
    top.add_argument("--stale-after", type=float, default=30.0,
                     help="Say DATA STALE when the newest event is older than this (default 30 s)")
    from cxpulse.top import add_access_arguments

    add_access_arguments(top)  # basic auth and TLS of a secured exporter

    schema = sub.add_parser("schema", help="Write the JSON Schema of every event")
    schema.add_argument("--out", default="schemas", help="Output directory (default ./schemas)")

    rules = sub.add_parser("rules", help="Write the Prometheus rules generated from the settings' thresholds")
    rules.add_argument("--config", help="TOML settings file (also CXPULSE_CONFIG)")
    rules.add_argument("--out", default="ops/prometheus/rules.yml", help="Output file (default ops/prometheus/rules.yml)")

    dashboards = sub.add_parser("dashboards", help="Write the Grafana dashboards generated from the settings' thresholds")
    dashboards.add_argument("--config", help="TOML settings file (also CXPULSE_CONFIG)")
    dashboards.add_argument("--out", default="ops/grafana/dashboards", help="Output directory (default ops/grafana/dashboards)")

    simulate = sub.add_parser("simulate", help="Publish realistic simulated traffic")
    _common(simulate)
    simulate.add_argument("--rate", type=float, default=8.0, help="Calls per second")
    simulate.add_argument("--duration", type=float, help="Seconds (default: until Ctrl-C)")
    simulate.add_argument("--seed", type=int, help="Traffic seed (default: random; a reused seed re-sends the same event ids, which the worker dedupes)")

    return parser


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    return load_settings(
        getattr(args, "config", None),
        kafka_url=getattr(args, "kafka_url", None),
        redis_url=getattr(args, "redis_url", None),
        app_id=getattr(args, "app_id", None),
        log_level=getattr(args, "log_level", None),
        **extra,
    )


def setup_logging(settings: Settings) -> None:
    from cxpulse.logs import setup_logging as configure

    configure(settings.log_level, settings.log_format)


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "publish":
        # a supervisor's SIGTERM ends these like Ctrl-C: flush what was sent, exit cleanly
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if getattr(args, "seed", 0) is None:
        args.seed = random.SystemRandom().randrange(2**31)
    if args.command == "schema":
        from streams.schema import write_schemas

        for path in write_schemas(Path(args.out)):
            print(path)
        return 0

    if args.command == "top":
        from cxpulse.top import access_from_args, check_url, run_top

        try:
            access = access_from_args(args)
            check_url(args.url)
        except (OSError, ValueError) as exc:  # unreadable password file, password given twice, credentials in the URL
            print(f"cxpulse top: {exc}", file=sys.stderr)
            return 2
        return run_top(args.url, args.window, args.interval, args.duration, stale_after=args.stale_after, access=access)

    if args.command == "rules":
        from cxpulse.rules import main_rules

        main_rules(Path(args.out), settings_from(args))
        print(args.out)
        return 0

    if args.command == "dashboards":
        from cxpulse.dashboards import main_dashboards

        for path in main_dashboards(Path(args.out), settings_from(args)):
            print(path)
        return 0

    if args.command == "exporter":
        settings = settings_from(args, exporter_host=args.host, exporter_port=args.port)
        setup_logging(settings)
        from exporters.api import run_exporter

        run_exporter(settings)
        return 0

    if args.command == "worker":
        settings = settings_from(args)
        setup_logging(settings)
        from processors.runner import run_worker

        return run_worker(settings)

    if args.command == "publish":
        settings = settings_from(args)
        setup_logging(settings)
        options: dict[str, Any] = {} if args.linger_ms is None else {"linger_ms": args.linger_ms}
        if args.envelope:
            # only what was given: the publisher's defaults are the one source of the rest
            options |= {"envelope": True} | {
                name: value for name in ("envelope_max_events", "envelope_max_bytes", "envelope_linger")
                if (value := getattr(args, name)) is not None
            }
        return asyncio.run(_publish(settings, args.file, options))

    if args.command == "simulate":
        settings = settings_from(args)
        setup_logging(settings)
        from streams.simulator import run_simulator

        async def simulate() -> dict[str, int]:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)  # finish the tick, flush, exit 0
            return await run_simulator(settings, rate=args.rate, duration=args.duration, seed=args.seed, stop=stop)

        counts = asyncio.run(simulate())
        print(f"published: {counts}", file=sys.stderr)
        return 0

    if args.command == "demo":
        settings = settings_from(args)
        from cxpulse.demo import run_demo

        return run_demo(settings, duration=args.duration, rate=args.rate, seed=args.seed, window=args.window, port=args.port)

    raise AssertionError(args.command)


async def _publish(settings: Settings, file: str, options: dict[str, Any] | None = None) -> int:
    from streams.publisher import Publisher

    try:
        publisher = Publisher(settings, **(options or {}))
    except ValueError as exc:
        print(f"cxpulse publish: {exc}", file=sys.stderr)
        return 2
    handle = sys.stdin if file == "-" else open(file, encoding="utf-8")
    try:
        async with publisher:
            sent, rejected = await publisher.publish_lines(handle)
    finally:
        if handle is not sys.stdin:
            handle.close()
    print(f"published {sent} events, rejected {rejected}", file=sys.stderr)
    return 0 if rejected == 0 else 1
