"""Ratios, goals and the Markdown summary of a result JSON."""

from __future__ import annotations

from typing import Any

# name -> what it is, shown in the summary
DESCRIPTIONS = {
    "aiokafka": "aiokafka getmany + pydantic TypeAdapter decode + dict count (1 event/message)",
    "aiokafka_envelope": "aiokafka getmany + envelope unpack + pydantic decode + dict count (envelopes)",
    "quix": "Quix Streams, 60 s tumbling count per key (1 event/message)",
    "bytewax": "Bytewax, JSON decode + 60 s tumbling count per key (1 event/message)",
    "faust_table": "naive Faust agent, Table update per event (stock consumer)",
    "faust_noop_stock": "Faust agent doing nothing, stock consumer",
    "faust_noop_fast": "Faust agent doing nothing, processors.fast_consumer (Faust defaults otherwise)",
    "faust_noop_fast_tuned": "Faust agent doing nothing, fast_consumer + stream_buffer_maxsize=16384",
    "faust_noop_fast_tuned_lean": "Faust agent doing nothing, as above + processors.faust_lean (RawSchema, LeanMonitor)",
    "cxpulse": "cxpulse worker, every KPI into Redis (1 event/message)",
    "cxpulse_stock_consumer": "cxpulse worker with fast_consumer=false (1 event/message)",
    "cxpulse_envelope": "cxpulse worker, every KPI into Redis (envelopes)",
    "cxpulse_2_workers": "two cxpulse workers, same group (1 event/message)",
}

BASELINES_SINGLE = ("aiokafka", "quix", "bytewax", "faust_table", "faust_noop_stock", "faust_noop_fast",
                    "faust_noop_fast_tuned", "faust_noop_fast_tuned_lean")


def rate(result: dict[str, Any], name: str) -> float | None:
    entry = result.get("throughput", {}).get(name) or {}
    value = entry.get("events_per_s")
    return float(value) if entry.get("status") == "ok" and value else None


def ratios(result: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    mine = rate(result, "cxpulse")
    for base in BASELINES_SINGLE:
        other = rate(result, base)
        out[f"cxpulse / {base}"] = mine / other if mine and other else None
    env = rate(result, "cxpulse_envelope")
    for base in ("aiokafka_envelope", "aiokafka", "quix"):
        other = rate(result, base)
        out[f"cxpulse_envelope / {base}"] = env / other if env and other else None
    stock, fast = rate(result, "faust_noop_stock"), rate(result, "faust_noop_fast")
    out["faust_noop_fast / faust_noop_stock"] = fast / stock if fast and stock else None
    tuned = rate(result, "faust_noop_fast_tuned")
    out["faust_noop_fast_tuned / faust_noop_stock"] = tuned / stock if tuned and stock else None
    lean = rate(result, "faust_noop_fast_tuned_lean")
    out["faust_noop_fast_tuned_lean / faust_noop_stock"] = lean / stock if lean and stock else None
    stock_worker = rate(result, "cxpulse_stock_consumer")
    out["cxpulse / cxpulse_stock_consumer"] = mine / stock_worker if mine and stock_worker else None
    two = rate(result, "cxpulse_2_workers")
    out["cxpulse_2_workers / cxpulse"] = two / mine if two and mine else None
    return out


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    r = result.get("ratios") or ratios(result)
    out: list[dict[str, Any]] = []

    def add(goal: str, target: str, measured: float | None, met: bool | None, note: str = "") -> None:
        out.append({"goal": goal, "target": target, "measured": measured, "met": met, "note": note})

    q = r.get("cxpulse / quix")
    add("1 event/message: cxpulse worker vs Quix windowed count", ">= 1.0x", q, None if q is None else q >= 1.0)
    top = result.get("ceilings") or {}
    e = r.get("cxpulse_envelope / aiokafka_envelope")
    note = ""
    if top.get("envelope_ratio") is not None:
        needs = top["envelope_half_needs_us"]
        note = (f"ceiling on this machine from CPU per event: {top['envelope_ratio']:.2f}x; 0.5x needs worker and Redis "
                f"each under {needs['each']:.0f} µs per event, and worker + Redis + broker under {needs['all']:.0f} µs")
    add("envelopes: cxpulse worker vs aiokafka+pydantic loop (envelopes)", ">= 0.5x", e, None if e is None else e >= 0.5,
        note)
    fresh = result.get("freshness") or {}
    p99 = fresh.get("p99_s")
    notes = [f"achieved {fresh['rate_achieved']:,.0f} events/s"] if fresh.get("rate_achieved") else []
    if fresh.get("linger_ms") is not None:
        notes.append(f"producer linger {fresh['linger_ms']} ms")
    packed = result.get("freshness_envelope") or {}
    if packed.get("p99_s") is not None:
        notes.append(f"with envelopes (50 ms linger): p99 {packed['p99_s']:.2f} s")
    short = result.get("freshness_linger5") or {}
    if short.get("p99_s") is not None:
        notes.append(f"with a 5 ms producer linger: p99 {short['p99_s']:.2f} s")
    add(f"freshness p99 at {fresh.get('rate_target', 5000):,.0f} events/s, 1 event/message", "<= 1.0 s", p99,
        None if p99 is None else p99 <= 1.0, "; ".join(notes))
    api = result.get("api_latency") or {}
    stages = [st for st in (api.get("before_seeding"), api) if st and st.get("/metrics")]
    if stages:
        near = min(stages, key=lambda st: abs(st.get("series", 0) - 2000))
        m95 = near["/metrics"]["spaced"]["p95_s"]
        notes = [f"{st['/metrics']['spaced']['p95_s'] * 1000:.0f} ms at {st['series']:,} series" for st in stages if st is not near]
        notes += [f"snapshot build p95 {st['snapshot_build']['p95_s'] * 1000:.0f} ms at {st['series']:,} series"
                  for st in stages if st.get("snapshot_build")]
        add(f"/metrics p95 at {near.get('series', 0):,} series (one request per snapshot period)", "<= 0.050 s", m95,
            m95 <= 0.050, "; ".join(notes))
    else:
        add("/metrics p95 at 2,000 series", "<= 0.050 s", None, None)
    s = r.get("cxpulse_2_workers / cxpulse")
    note = ""
    if top.get("two_workers_ratio") is not None:
        note = (f"ceiling on {top['cores']} cores from the two workers' CPU per event: {top['two_workers_ratio']:.2f}x "
                f"one worker's measured rate")
    add("two workers vs one", ">= 1.6x", s, None if s is None else s >= 1.6, note)
    soak = result.get("soak") or {}
    band = soak.get("band_fraction")
    add(f"RSS flat after warm-up ({soak.get('seconds', 0):.0f} s soak)", "within +-10 %", band,
        None if band is None else band <= 0.10, f"drift {soak['drift_fraction']:+.1%}" if "drift_fraction" in soak else "")
    return out


def _fmt_rate(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) else "—"


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value:.1%}"
    return str(value)


def _ceilings_section(top: dict[str, Any]) -> list[str]:
    runs = [(name, top[name]) for name in ("cxpulse", "cxpulse_envelope", "cxpulse_2_workers") if name in top]
    if not runs:
        return []
    lines = ["", "## CPU per event, and what the machine allows", "",
             f"CPU each process spent per event in the throughput steps, and the events/s no schedule could beat on "
             f"{top['cores']} cores (`bench/ceilings.py`: a worker about one core, Redis one thread, all sharing the cores).", "",
             "| run | workers µs | Redis µs | broker µs | ceiling events/s |", "|---|---:|---:|---:|---:|"]
    for name, entry in runs:
        us = entry["cpu_us_per_event"]
        lines.append(f"| {name} | {us['worker']:.1f} | {us['redis']:.1f} | {us['broker']:.1f} | "
                     f"{_fmt_rate(entry['bound_events_per_s'])} |")
    return lines


def markdown(result: dict[str, Any]) -> str:
    m = result.get("machine", {})
    cfg = result.get("config", {})
    wl = result.get("workload", {})
    lines = [
        f"# cxpulse benchmark — {result.get('started_at', '?')}",
        "",
        f"Command: `{result.get('command', '')}`" + (" (smoke run: numbers are not meaningful)" if cfg.get("smoke") else ""),
        "",
        "## Machine",
        "",
        f"- CPU: {m.get('cpu_model')} — {m.get('usable_cpus')} usable of {m.get('logical_cpus')} logical CPUs; RAM {m.get('ram_gb')} GiB",
        f"- {m.get('os')}, Python {m.get('python')}",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in (m.get("libraries") or {}).items() if v),
        "- Optional baselines: " + ", ".join(
            f"{name} {'%s (%s)' % (info.get('version'), info.get('python')) if info.get('available') else 'unavailable'}"
            for name, info in (result.get("availability") or {}).items()
        ),
        f"- Load average (1, 5, 15 min): before {result.get('load', {}).get('before')}, after {result.get('load', {}).get('after')}",
        "",
        "## Workload",
        "",
        f"{wl.get('events', 0):,} events ({', '.join(f'{k} {v:,}' for k, v in (wl.get('per_stream') or {}).items())}), "
        f"mean {wl.get('mean_bytes', 0):.0f} bytes, {cfg.get('partitions')} partitions per topic, "
        f"envelopes of up to {cfg.get('envelope_size')} events.",
        "",
        "## Throughput (events/s, first to last message)",
        "",
        "| approach | events/s | status | notes |",
        "|---|---:|---|---|",
    ]
    for name, entry in (result.get("throughput") or {}).items():
        note = entry.get("reason") or ""
        if entry.get("status") == "ok":
            bits = []
            if entry.get("worker_cpu_seconds"):
                bits.append(f"worker CPU {sum(entry['worker_cpu_seconds']):.1f} s, Redis CPU {entry.get('redis_cpu_seconds')} s")
            if entry.get("slow_path") is not None:
                bits.append(f"slow path {entry['slow_path']:,} of {entry['messages']:,} messages")
            note = "; ".join(bits)
        lines.append(f"| {name}: {DESCRIPTIONS.get(name, '')} | {_fmt_rate(entry.get('events_per_s'))} | {entry.get('status')} | {note} |")
    lines += ["", "## Ratios", "", "| ratio | value |", "|---|---:|"]
    for name, value in (result.get("ratios") or {}).items():
        lines.append(f"| {name} | {_fmt(value, 'x')} |")
    lines += _ceilings_section(result.get("ceilings") or {})
    for name, label in (("freshness", "1 event per message"), ("freshness_envelope", "envelopes"),
                        ("freshness_linger5", "1 event per message, 5 ms producer linger (Kafka's default)")):
        fresh = result.get(name)
        if not fresh or "p99_s" not in fresh:
            continue
        if name == "freshness":
            lines += ["", "## Freshness (event published → visible in /metrics)", ""]
        env = fresh.get("envelope") or {}
        packing = (f", up to {env['size']} events per envelope, {env['linger'] * 1000:.0f} ms linger" if env
                   else f", producer linger {fresh['linger_ms']} ms" if fresh.get("linger_ms") is not None else "")
        lines += [f"- {label}: {fresh.get('events', 0):,} events at {_fmt_rate(fresh.get('rate_target'))}/s target "
                  f"({_fmt_rate(fresh.get('rate_achieved'))}/s achieved{packing}): p50 {_fmt(fresh.get('p50_s'), 's')}, "
                  f"p99 {_fmt(fresh.get('p99_s'), 's')}, max {_fmt(fresh.get('max_s'), 's')} "
                  f"(scrape every {_fmt(fresh.get('scrape_interval_s'), 's')}, snapshot period {fresh.get('snapshot_cache_s')} s, "
                  f"worker batch window {fresh.get('batch_within_s')} s, fetch wait {fresh.get('fetch_max_wait_ms')} ms)."]
        in_redis = fresh.get("in_redis") or {}
        if in_redis.get("p99_s") is not None:
            lines[-1] += (f" Already in Redis (the worker's share): p50 {_fmt(in_redis.get('p50_s'), 's')}, "
                          f"p99 {_fmt(in_redis.get('p99_s'), 's')}.")
        if fresh.get("redis_forks") is not None:
            lines[-1] += f" Redis AOF rewrites during the run: {fresh['redis_forks']}."
        slices = fresh.get("p99_by_10s_of_sending_s") or []
        if slices:
            lines[-1] += " p99 per 10 s of sending: " + " / ".join(_fmt(v, "s") for v in slices) + "."
        by_10s = {k: v for k, v in (fresh.get("cpu_cores_by_10s") or {}).items() if v and k != "harness"}
        if by_10s:
            lines[-1] += (" CPU per 10 s, in cores: "
                          + "; ".join(f"{k} " + " → ".join("?" if c is None else f"{c:.2f}" for c in v)
                                      for k, v in by_10s.items()) + ".")
    probe = {k: v for k, v in (result.get("broker_probe") or {}).items() if isinstance(v, dict) and "records" in v}
    if probe:
        lines += ["", "## The broker alone (Tansu)", "",
                  "The freshness step's traffic without cxpulse: its paced producer, and the aiokafka loop baseline "
                  "reading everything back (`bench/cxpulse_runs.broker_alone`). Broker CPU per sample, in cores:", ""]
        for entry in probe.values():
            cores = " → ".join(f"{c:.2f}" for c in entry.get("broker_cores_by_sample") or [])
            lines.append(f"- producer linger {entry['linger_ms']} ms, {entry['records']:,} events at "
                         f"{_fmt_rate(entry.get('rate'))}/s, every {entry.get('sample_s')} s: {cores}")
    api = result.get("api_latency")
    if api and api.get("/metrics"):
        seeded = api.get("seeded") or {}
        lines += ["", "## API latency", "",
                  f"Timed with the segments the freshness traffic created, then again after seeding "
                  f"{seeded.get('queues')} queues x {len(seeded.get('channels') or [])} channels. "
                  "'spaced': one request per snapshot period (a Prometheus scrape or a wall poll); "
                  "'back to back': requests in a row; 'snapshot build': the exporter's background rebuild "
                  "(Redis read, every KPI, /metrics render), which a request only waits for when the snapshot "
                  "is too old, e.g. the first one after snapshot_idle_seconds without requests.", "",
                  "| series | /metrics bytes | endpoint | mode | n | p50 | p95 | max |",
                  "|---:|---:|---|---|---:|---:|---:|---:|"]
        for stage in (api.get("before_seeding") or {}, api):
            for path in ("/metrics", "/api/kpis"):
                for mode, label in (("spaced", "spaced"), ("back_to_back", "back to back")):
                    d = (stage.get(path) or {}).get(mode) or {}
                    if d:
                        lines.append(f"| {stage.get('series', 0):,} | {stage.get('metrics_bytes', 0):,} | {path} | {label} | {d.get('n')} | "
                                     f"{_fmt(d.get('p50_s'), 's')} | {_fmt(d.get('p95_s'), 's')} | {_fmt(d.get('max_s'), 's')} |")
            d = stage.get("snapshot_build") or {}
            if d:
                lines.append(f"| {stage.get('series', 0):,} | | (exporter) | snapshot build | {d.get('n')} | "
                             f"{_fmt(d.get('p50_s'), 's')} | {_fmt(d.get('p95_s'), 's')} | {_fmt(d.get('max_s'), 's')} |")
    soak = result.get("soak")
    if soak:
        lines += ["", "## Soak", "",
                  f"{soak.get('seconds'):.0f} s at {soak.get('calls_per_second')} calls/s "
                  f"({_fmt_rate(soak.get('events_per_s'))} events/s, {soak.get('events', 0):,} events): worker RSS "
                  f"{soak.get('rss_mb_first')} MiB at start, {soak.get('rss_mb_after_warmup_min')}–{soak.get('rss_mb_after_warmup_max')} MiB "
                  f"after {soak.get('warmup_s'):.0f} s warm-up (mean {soak.get('rss_mb_after_warmup_mean')}; "
                  f"largest deviation {_fmt(soak.get('band_fraction'), '%')}, drift {_fmt(soak.get('drift_fraction'), '%')})."]
    lines += ["", "## Goals", "", "| goal | target | measured | met |", "|---|---|---:|---|"]
    for g in result.get("goals") or []:
        v = g["measured"]
        unit = "s" if "s" in g["target"].split()[-1] and "x" not in g["target"] else ("%" if "%" in g["target"] else "x")
        shown = _fmt(v, unit)
        met = {True: "met", False: "**not met**", None: "not measured"}[g["met"]]
        lines.append(f"| {g['goal']} | {g['target']} | {shown} | {met}{' — ' + g['note'] if g.get('note') else ''} |")
    problems = result.get("errors") or []
    if problems:
        lines += ["", "## Errors", ""] + [f"- {p}" for p in problems]
    return "\n".join(lines) + "\n"
