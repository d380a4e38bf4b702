"""Measurements of the cxpulse worker and exporter themselves.

* throughput: real ``cxpulse worker`` processes fold the pre-produced workload into
  Redis; the rate is read from the worker's own health counters
  (``{app}:health`` fields ``<topic>|processed`` and friends), from the first
  handled event to the N-th;
* freshness: events published at a steady rate, /metrics scraped continuously:
  for each published slice, the time until its partition's
  ``cx_pipeline_partition_events_processed_total`` covers it;
* API latency: /metrics and /api/kpis timed after seeding queues x channels;
* soak: the worker's RSS sampled while the simulator publishes.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Sequence

import psutil
import redis
from aiokafka.partitioner import DefaultPartitioner

from bench.context import Context
from bench.runners import parse as parse_result
from bench.workload import Workload
from cxpulse.procs import ManagedProcess, free_port, wait_until
from cxpulse.settings import Settings, redis_url_of
from processors import keys
from streams.publisher import DEFAULT_LINGER_MS


# ------------------------------------------------------------------ capabilities


def worker_capabilities() -> dict[str, bool]:
    """What the worker in this checkout can do (patches may not be applied yet)."""
    import processors.batch as batch
    from cxpulse.settings import Settings

    return {
        "envelopes": bool(getattr(batch, "SUPPORTS_ENVELOPES", False)),
        "fast_consumer_setting": "fast_consumer" in Settings.model_fields,
    }


# -------------------------------------------------------------------- throughput


def _redis(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(redis_url_of(settings), decode_responses=True, socket_timeout=30)


def handled(health: dict[str, str], topics: Sequence[str]) -> tuple[int, int]:
    """(events handled in any way, events processed) according to the health hash."""
    total = processed = 0
    wanted = set(topics)
    for field, value in health.items():
        topic, _, rest = field.partition("|")
        if topic not in wanted or rest.endswith("_ts"):
            continue
        n = int(float(value))
        total += n
        if rest == "processed":
            processed += n
    return total, processed


def measure_workers(
    ctx: Context,
    workload: Workload,
    topics: dict[str, str],
    partitions: int,
    *,
    label: str,
    workers: int = 1,
    settings_extra: dict[str, Any] | None = None,
    timeout: float = 900.0,
) -> dict[str, Any]:
    """Start ``workers`` worker processes on the pre-produced topics; time them to N."""
    assert ctx.redis is not None and ctx.broker is not None
    app_id = ctx.new_id("w")
    settings = ctx.settings(app_id, topics, partitions, **(settings_extra or {}))
    client = _redis(settings)
    client.flushdb()  # earlier runs' keys out of the way (each run has its own app id anyway)
    expected = workload.total
    health_key = keys.health(app_id)
    source_topics = list(topics.values())
    procs: list[ManagedProcess] = [ctx.start_worker(settings, f"{label}-{i + 1}", wait_ready=False) for i in range(workers)]
    try:
        for proc in procs:
            ctx.wait_ready(proc)
        cpu = _CpuShares({"redis": ctx.redis.proc.pid, "broker": ctx.broker.proc.pid} | {p.name: p.pid for p in procs})
        deadline = time.monotonic() + timeout
        first_t = first_n = None
        last_report = time.monotonic()
        count = processed = 0
        while True:
            try:
                count, processed = handled(client.hgetall(health_key), source_topics)
            except redis.TimeoutError:  # Redis busy with a long script: that is the worker's time
                continue
            now = time.perf_counter()
            if first_t is None and count > 0:
                first_t, first_n = now, count
            if count >= expected:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: {count:,}/{expected:,} events after {timeout:.0f}s")
            for proc in procs:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            if time.monotonic() - last_report > 10:
                ctx.progress(f"  {label}: {count:,}/{expected:,}")
                last_report = time.monotonic()
            time.sleep(0.02)
        assert first_t is not None and first_n is not None
        seconds = max(now - first_t, 1e-9)
        spent = cpu.seconds()
        rss = [psutil.Process(p.pid).memory_info().rss for p in procs]
        return {
            "events": expected,
            "events_processed": processed,
            "events_other": count - processed,  # duplicates, rejections: should be 0
            "seconds": seconds,
            "events_per_s": (count - first_n) / seconds if count > first_n else 0.0,
            "workers": workers,
            "worker_cpu_seconds": [round(spent[p.name], 2) for p in procs],  # type: ignore[arg-type]
            "redis_cpu_seconds": round(spent["redis"], 2),  # type: ignore[arg-type]
            "broker_cpu_seconds": round(spent["broker"], 2),  # type: ignore[arg-type]
            "worker_rss_mb": [round(r / 2**20, 1) for r in rss],
            "app_id": app_id,
        }
    finally:
        for proc in procs:
            ctx.stop_child(proc)
        client.close()


# ---------------------------------------------------------------- the exporter


def start_exporter(ctx: Context, settings: Settings, name: str = "exporter") -> tuple[ManagedProcess, str]:
    port = free_port()
    env = ctx.settings_env(settings, name) | {"CXPULSE_EXPORTER_PORT": str(port), "CXPULSE_EXPORTER_HOST": "127.0.0.1"}
    proc = ctx.spawn(name, [sys.executable, "-m", "cxpulse", "exporter"], env)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _ok(url + "/healthz"), 30, "exporter /healthz", proc, interval=0.1)
    return proc, url


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _get(url: str, timeout: float = 10.0) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read()
    return time.perf_counter() - started, body


def processed_by_partition(metrics_text: str) -> dict[str, float]:
    """``{"topic|partition": events folded}`` from ``/metrics``: the same field names as
    the Redis hash (``processors.keys.partitions``)."""
    out: dict[str, float] = {}
    prefix = "cx_pipeline_partition_events_processed_total{"
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            labels, _, value = line[len(prefix):].partition("} ")
            topic = labels.split('topic="', 1)[1].split('"', 1)[0]
            partition = labels.split('partition="', 1)[1].split('"', 1)[0]
            out[f"{topic}|{partition}"] = float(value)
    return out


def series_count(metrics_text: str) -> int:
    return sum(1 for line in metrics_text.splitlines() if line and not line.startswith("#"))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


# ------------------------------------------------------------------- the stack


class Stack:
    """One worker and one exporter on their own topics: freshness, API latency, soak."""

    def __init__(self, ctx: Context, partitions: int, stream_names: Sequence[str]) -> None:
        from bench.workload import create_topics

        self.ctx = ctx
        self.app_id = ctx.new_id("s")
        self.topics = {stream: f"{self.app_id}.{stream}" for stream in stream_names}
        self.partitions = partitions
        self.settings = ctx.settings(self.app_id, self.topics, partitions)
        asyncio.run(create_topics(ctx.bootstrap, [*self.topics.values(), f"{self.app_id}.deadletter",
                                                  f"{self.app_id}.followups"], partitions))
        ctx.progress("  starting a worker and an exporter…")
        self.worker = ctx.start_worker(self.settings, "stack-worker")
        self.exporter, self.url = start_exporter(ctx, self.settings, "stack-exporter")
        self.redis = _redis(self.settings)

    def handled(self) -> int:
        return handled(self.redis.hgetall(keys.health(self.app_id)), list(self.topics.values()))[0]

    def metrics(self) -> str:
        return _get(self.url + "/metrics")[1].decode()

    def stop(self) -> None:
        self.redis.close()
        self.ctx.stop_child(self.exporter)
        self.ctx.stop_child(self.worker)


# ------------------------------------------------------------------- freshness


def interleave(workload: Workload, topics: dict[str, str], want: int) -> list[tuple[str, bytes, bytes]]:
    """Up to ``want`` events of the workload, streams mixed in their proportions."""
    events: list[tuple[str, bytes, bytes]] = []
    iters = {s: iter(v) for s, v in workload.events.items() if v}
    share = {s: len(v) / max(workload.total, 1) for s, v in workload.events.items()}
    credit = {s: 0.0 for s in iters}
    while len(events) < want and iters:
        for s in list(iters):
            credit[s] += share[s]
            while credit[s] >= 1 and len(events) < want:
                credit[s] -= 1
                try:
                    k, v = next(iters[s])
                except StopIteration:
                    del iters[s]
                    break
                events.append((topics[s], k, v))
    return events


def freshness(stack: Stack, workload: Workload, *, rate: float, seconds: float, scrape_interval: float = 0.1,
              envelope: dict[str, Any] | None = None, linger_ms: int = DEFAULT_LINGER_MS) -> dict[str, Any]:
    """Publish at ``rate`` events/s for ``seconds``; event -> /metrics latency.

    Every 10 ms the producer sends the slice of events that is due and notes the time
    and the cumulative count per partition; /metrics is read every ``scrape_interval``.
    A slice counts as visible at the end of the first scrape whose
    ``cx_pipeline_partition_events_processed_total{topic,partition}`` reaches its
    cumulative count. A partition is consumed and stored in order, so that is exact
    per event. (A count per topic is not: a partition that keeps up makes up for one
    that lags, and the lag is understated.)
    ``envelope`` (``{"size", "linger"}``): the producer packs envelopes as
    ``streams.publisher`` does; the linger counts against freshness. ``linger_ms`` is
    the Kafka producer's (the publisher's default unless told), and counts too.
    """
    ctx = stack.ctx
    events = interleave(workload, stack.topics, int(rate * seconds))
    compact_aof(stack.redis, ctx)
    forks0 = int(stack.redis.info("stats")["total_forks"])
    base = processed_by_partition(stack.metrics())
    spec_path = ctx.workdir / f"{stack.app_id}.paced{'-envelope' if envelope else ''}.json"
    totals = write_paced_spec(spec_path, ctx, events, stack.partitions, rate=rate, linger_ms=linger_ms,
                              envelope=envelope)
    ctx.progress(f"  publishing {len(events):,} events at {rate:,.0f}/s ({len(events) / rate:.0f}s), "
                 f"reading /metrics every {scrape_interval * 1000:.0f} ms")
    producer = ctx.spawn("paced-producer", [sys.executable, "-m", "bench.runners.paced_producer", str(spec_path)])
    cpu = _CpuShares({"worker": stack.worker.pid, "exporter": stack.exporter.pid, "redis": ctx.redis.proc.pid,
                      "broker": ctx.broker.proc.pid, "producer": producer.pid, "harness": None})
    scrapes: list[tuple[float, dict[str, float]]] = []
    # the same counts read straight from Redis: splits the lag into the worker's
    # (event -> Redis) and the exporter's (Redis -> /metrics)
    polls: list[tuple[float, dict[str, float]]] = []
    parts_key = keys.partitions(stack.app_id)
    base_redis = _floats(stack.redis.hgetall(parts_key))
    scrape_times: list[float] = []
    builds: list[float] = []  # the exporter's own snapshot build time, as each scrape reports it
    deadline = time.time() + len(events) / rate + 60
    while time.time() < deadline:
        stored = _floats(stack.redis.hgetall(parts_key))
        polls.append((time.time(), {t: v - base_redis.get(t, 0.0) for t, v in stored.items()}))
        try:
            took, body = _get(stack.url + "/metrics")
        except OSError:
            time.sleep(scrape_interval)
            continue
        scrape_times.append(took)
        text = body.decode()
        build = snapshot_duration(text)
        if build is not None:
            builds.append(build)
        seen = {t: v - base.get(t, 0.0) for t, v in processed_by_partition(text).items()}
        scrapes.append((time.time(), seen))
        cpu.tick()
        if all(seen.get(t, 0) >= n for t, n in totals.items()):
            break
        time.sleep(max(0.0, scrape_interval - took))
    busy = cpu.shares()  # before the producer exits: its CPU cannot be read after
    forks = int(stack.redis.info("stats")["total_forks"]) - forks0
    code, output = ctx.finish(producer, 60)
    sending = parse_result(output) or {}
    timeline = json.loads(spec_path.with_suffix(".timeline.json").read_text())
    latencies, by_topic, by_slice, unseen = _visibility(timeline, scrapes, totals)
    in_redis, _, in_redis_by_slice, _ = _visibility(timeline, polls, totals)
    if not latencies:
        raise RuntimeError("no published event became visible in /metrics")
    published = timeline[-1][0] - timeline[0][0] if len(timeline) > 1 else 0.0
    return {
        "rate_target": rate,
        "events": len(events),
        "rate_achieved": len(events) / published if published > 0 else None,
        "p50_s": percentile(latencies, 50),
        "p99_s": percentile(latencies, 99),
        "max_s": max(latencies),
        "mean_s": statistics.fmean(latencies),
        "not_visible": unseen,
        "scrape_interval_s": scrape_interval,
        "scrapes": len(scrapes),
        "scrape_p50_s": percentile(scrape_times, 50) if scrape_times else None,
        "series": series_count(stack.metrics()),
        "snapshot_cache_s": stack.settings.snapshot_cache_seconds,
        "snapshot_build_p50_s": percentile(builds, 50) if builds else None,
        "snapshot_build_p99_s": percentile(builds, 99) if builds else None,
        "batch_within_s": stack.settings.batch_within_seconds,
        "fetch_max_wait_ms": stack.settings.consumer_fetch_max_wait_ms,
        "producer_exit": code,
        # a tick that starts late sends late: that counts against freshness, and says the machine was full
        "producer_late_ticks": sending.get("late_ticks"),
        "producer_max_late_by_10s_s": sending.get("max_late_by_10s"),
        "envelope": envelope,
        "linger_ms": linger_ms,
        "p99_by_topic_s": {t: percentile(v, 99) for t, v in sorted(by_topic.items())},
        "p99_by_10s_of_sending_s": [percentile(by_slice[k], 99) for k in sorted(by_slice)],
        "cpu_cores": busy,
        "cpu_cores_by_10s": cpu.by_slice,
        # AOF rewrites (forks) inside the window: each is a spike the tail will show
        "redis_forks": forks,
        "in_redis": {
            "p50_s": percentile(in_redis, 50) if in_redis else None,
            "p99_s": percentile(in_redis, 99) if in_redis else None,
            "p99_by_10s_of_sending_s": [percentile(in_redis_by_slice[k], 99) for k in sorted(in_redis_by_slice)],
        },
    }


def write_paced_spec(path: Path, ctx: Context, events: list[tuple[str, bytes, bytes]], partitions: int, *,
                     rate: float, linger_ms: int, envelope: dict[str, Any] | None = None) -> dict[str, int]:
    """The ``bench.runners.paced_producer`` spec for ``events``; events per ``topic|partition``.

    Each event's partition is chosen here (Kafka's default partitioner on the key), so
    that the producer and whoever counts per partition agree, and before any clock starts.
    """
    partitioner, every = DefaultPartitioner(), list(range(partitions))
    placed = [(t, k, v, partitioner(k, every, every)) for t, k, v in events]
    totals: dict[str, int] = {}
    for topic, _k, _v, partition in placed:
        where = f"{topic}|{partition}"
        totals[where] = totals.get(where, 0) + 1
    path.write_text(json.dumps({"bootstrap": ctx.bootstrap, "rate": rate, "envelope": envelope, "linger_ms": linger_ms,
                                "events": [(t, k.decode(), v.decode(), p) for t, k, v, p in placed]}))
    return totals


def broker_alone(ctx: Context, workload: Workload, partitions: int, *, rate: float, seconds: float, linger_ms: int,
                 fetch_max_wait_ms: int, sample_s: float) -> dict[str, Any]:
    """The freshness step's traffic with no cxpulse process: does the broker's cost stay flat?

    Why: in the freshness step the Tansu broker's CPU grows through a run at a steady
    rate, and every 10 s slice's p99 with it. Here the same paced producer (with
    ``linger_ms``) sends the same events to fresh topics, the aiokafka loop baseline
    reads them back (with the worker's fetch wait), and the broker's CPU is sampled
    every ``sample_s``. Run with two lingers, it tells whether the broker's cost
    follows the records or the record batches it stores.
    """
    from bench.workload import create_topics

    topics = {stream: f"bench{ctx.run_id}.probe{linger_ms}.{stream}" for stream in workload.events}
    asyncio.run(create_topics(ctx.bootstrap, list(topics.values()), partitions))
    events = interleave(workload, topics, int(rate * seconds))
    spec_path = ctx.workdir / f"probe{linger_ms}.paced.json"
    write_paced_spec(spec_path, ctx, events, partitions, rate=rate, linger_ms=linger_ms)
    consumer_spec = {"bootstrap": ctx.bootstrap, "streams": {t: s for s, t in topics.items()}, "partitions": partitions,
                     "expected": len(events), "fetch_max_wait_ms": fetch_max_wait_ms}
    consumer = ctx.spawn(f"probe{linger_ms}-consumer",
                         [sys.executable, "-m", "bench.runners.aiokafka_loop", json.dumps(consumer_spec)])
    producer = ctx.spawn(f"probe{linger_ms}-producer",
                         [sys.executable, "-m", "bench.runners.paced_producer", str(spec_path)])
    cpu = _CpuShares({"broker": ctx.broker.proc.pid}, slice_s=sample_s)  # type: ignore[union-attr]
    while producer.proc.poll() is None:
        time.sleep(0.1)
        cpu.tick()
    code, output = ctx.finish(producer, 60)
    if code != 0:
        raise RuntimeError(f"paced producer exited with {code}: {output[-500:]}")
    _, output = ctx.finish(consumer, 60)
    consumed = (parse_result(output) or {}).get("events", 0)
    return {"linger_ms": linger_ms, "records": len(events), "consumed": consumed, "rate": rate,
            "broker_cores_by_sample": cpu.by_slice["broker"], "sample_s": sample_s}


def compact_aof(client: redis.Redis, ctx: Context, timeout: float = 120.0) -> None:
    """Rewrite Redis' append-only log now and wait for it, so every freshness run starts
    with the same log size: the earlier steps' writes do not decide whether a rewrite
    lands inside the measured window. A rewrite that does is counted (``redis_forks``)."""
    ctx.progress("  compacting Redis' append-only log first…")
    client.bgrewriteaof()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        time.sleep(0.1)
    raise RuntimeError(f"Redis' append-only log rewrite did not finish within {timeout:.0f}s")


class _CpuShares:
    """CPU used per process over a span, in cores (CPU-seconds / wall seconds): who the
    two cores went to. ``None`` stands for this process (the scraper). ``tick()`` also
    keeps the same per ``slice_s`` (10 s), which is how a process whose cost grows through a steady
    run shows (the Tansu broker's does: docs/performance.md)."""

    def __init__(self, pids: dict[str, int | None], slice_s: float = 10.0) -> None:
        self.slice_s = slice_s
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.started = time.monotonic()
        self.cpu0 = self._now()
        self.by_slice: dict[str, list[float | None]] = {name: [] for name in self.procs}
        self._mark, self._at_mark = self.cpu0, self.started

    def _now(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name, proc in self.procs.items():
            try:
                out[name] = sum(proc.cpu_times()[:2])
            except psutil.Error:
                out[name] = None
        return out

    @staticmethod
    def _cores(before: dict[str, float | None], after: dict[str, float | None], wall: float) -> dict[str, float | None]:
        return {name: None if after[name] is None or before[name] is None else round((after[name] - before[name]) / wall, 3)  # type: ignore[operator]
                for name in after}

    def tick(self) -> None:
        """Close the current slice if it is over."""
        now = time.monotonic()
        if now - self._at_mark < self.slice_s:
            return
        cpu = self._now()
        for name, cores in self._cores(self._mark, cpu, now - self._at_mark).items():
            self.by_slice[name].append(cores)
        self._mark, self._at_mark = cpu, now

    def shares(self) -> dict[str, float | None]:
        return self._cores(self.cpu0, self._now(), time.monotonic() - self.started)

    def seconds(self) -> dict[str, float | None]:
        """CPU-seconds per process since the start (None: the process is gone)."""
        now = self._now()
        return {name: None if now[name] is None or self.cpu0[name] is None else now[name] - self.cpu0[name]  # type: ignore[operator]
                for name in now}


def _floats(counts: dict[str, str]) -> dict[str, float]:
    return {field: float(v) for field, v in counts.items()}


Visibility = tuple[list[float], dict[str, list[float]], dict[int, list[float]], int]


def _visibility(timeline: list[list[Any]], reads: list[tuple[float, dict[str, float]]],
                totals: dict[str, int]) -> Visibility:
    """Per published slice, the time until the first read whose count for its partition
    (``topic|partition``) covers it: (latencies, by topic, by 10 s of sending, events
    never seen)."""
    latencies: list[float] = []
    by_topic: dict[str, list[float]] = {}
    by_slice: dict[int, list[float]] = {}
    start = timeline[0][0] if timeline else 0.0
    unseen = 0
    last = {t: 0 for t in totals}
    cursor = {t: 0 for t in totals}  # reads are in time order and counts only grow
    for sent_at, topic, partition, cumulative in timeline:
        where = f"{topic}|{partition}"
        n = cumulative - last[where]
        last[where] = cumulative
        i = cursor[where]
        while i < len(reads) and (reads[i][1].get(where, 0) < cumulative or reads[i][0] < sent_at):
            i += 1
        cursor[where] = i
        if i == len(reads):
            unseen += n
            continue
        latency = reads[i][0] - sent_at
        latencies.extend([latency] * n)
        by_topic.setdefault(topic, []).extend([latency] * n)
        by_slice.setdefault(int((sent_at - start) // 10), []).extend([latency] * n)
    return latencies, by_topic, by_slice, unseen


# ----------------------------------------------------------------- API latency


def seed_segments(settings: Settings, queues: int, channels: Sequence[str]) -> int:
    """One call lifecycle, one ticket and one survey per queue x channel (new segments)."""
    from datetime import datetime, timedelta, timezone

    from streams.publisher import Publisher

    now = datetime.now(timezone.utc) - timedelta(seconds=30)

    def at(seconds: float) -> str:
        return (now + timedelta(seconds=seconds)).isoformat()

    objs: list[dict[str, Any]] = []
    for q in range(queues):
        queue = f"q{q:02d}"
        for channel in channels:
            cid = f"seed-{queue}-{channel}"
            common = {"queue": queue, "channel": channel, "call_id": f"call-{cid}", "customer_id": f"cust-{cid}"}
            objs += [
                {"type": "call.queued", "event_id": f"e1-{cid}", "occurred_at": at(0), **common},
                {"type": "call.answered", "event_id": f"e2-{cid}", "occurred_at": at(5), "wait_seconds": 5,
                 "agent_id": f"{queue}-a1", **common},
                {"type": "call.completed", "event_id": f"e3-{cid}", "occurred_at": at(20), "talk_seconds": 10,
                 "hold_seconds": 2, "acw_seconds": 3, "agent_id": f"{queue}-a1", "resolved": True,
                 "contact_reason": "general", **common},
                {"type": "ticket.created", "event_id": f"e4-{cid}", "occurred_at": at(1), "queue": queue,
                 "channel": channel, "ticket_id": f"t-{cid}", "priority": "normal", "category": "account"},
                {"type": "survey.response", "event_id": f"e5-{cid}", "occurred_at": at(25), "queue": queue,
                 "channel": channel, "survey_id": f"s-{cid}", "survey_type": "nps", "score": 9, "scale_min": 0,
                 "scale_max": 10, "polarity": "higher_is_better", "agent_id": f"{queue}-a1",
                 "contact_id": f"call-{cid}", "touchpoint": "call"},
            ]

    async def publish() -> int:
        async with Publisher(settings) as publisher:
            for obj in objs:
                await publisher.publish_object(obj)
            await publisher.flush()
        return len(objs)

    return asyncio.run(publish())


def _stats(times: Sequence[float]) -> dict[str, Any]:
    return {"n": len(times), "p50_s": percentile(times, 50), "p95_s": percentile(times, 95), "max_s": max(times)}


def snapshot_duration(metrics_text: str) -> float | None:
    for line in metrics_text.splitlines():
        if line.startswith("cx_exporter_snapshot_duration_seconds "):
            return float(line.split()[1])
    return None


def time_endpoints(stack: Stack, back_to_back: int, spaced: int) -> dict[str, Any]:
    """``spaced``: one request per snapshot period, as a Prometheus scrape or a wall poll
    sees it; ``back_to_back``: requests in a row. ``snapshot_build``: what the
    exporter's background rebuild (Redis read, every KPI, /metrics render) took, from its
    own gauge; a request pays that only when the snapshot is too old (the first after
    ``snapshot_idle_seconds`` without requests)."""
    text = stack.metrics()
    out: dict[str, Any] = {"series": series_count(text), "metrics_bytes": len(text.encode())}
    period = stack.settings.snapshot_cache_seconds
    builds: list[float] = []
    for path in ("/metrics", "/api/kpis"):
        row = [_get(stack.url + path)[0] for _ in range(back_to_back)]
        apart = []
        for _ in range(spaced):
            time.sleep(period + 0.05)
            took, body = _get(stack.url + path)
            apart.append(took)
            if path == "/metrics" and (build := snapshot_duration(body.decode())) is not None:
                builds.append(build)
        out[path] = {"spaced": _stats(apart), "back_to_back": _stats(row)}
    if builds:
        out["snapshot_build"] = _stats(builds)
    return out


def api_latency(stack: Stack, *, queues: int = 50, channels: Sequence[str] = ("voice", "chat", "email", "web"),
                back_to_back: int = 200, spaced: int = 30) -> dict[str, Any]:
    """Time /metrics and /api/kpis as the stack is, then after seeding ``queues`` x ``channels``."""
    out: dict[str, Any] = {"snapshot_cache_s": stack.settings.snapshot_cache_seconds}
    stack.ctx.progress("  timing /metrics and /api/kpis with the segments the traffic made…")
    out["before_seeding"] = time_endpoints(stack, back_to_back, spaced)
    before = stack.handled()
    published = seed_segments(stack.settings, queues, channels)
    wait_until(lambda: stack.handled() >= before + published, 120, "seed events folded")
    time.sleep(stack.settings.snapshot_cache_seconds + 0.1)
    stack.ctx.progress(f"  seeded {queues} queues x {len(channels)} channels; timing again…")
    out["seeded"] = {"queues": queues, "channels": list(channels), "events": published}
    out.update(time_endpoints(stack, back_to_back, spaced))
    return out


# ------------------------------------------------------------------------ soak


def soak(stack: Stack, *, seconds: float, calls_per_second: float, sample_every: float, warmup: float) -> dict[str, Any]:
    """The stack's worker under simulated traffic; its RSS sampled over time."""
    ctx = stack.ctx
    env = ctx.settings_env(stack.settings, "soak-simulator")
    sim = ctx.spawn("soak-simulator", [sys.executable, "-m", "cxpulse", "simulate", "--rate", str(calls_per_second),
                                       "--seed", "4242", "--duration", str(seconds)], env)
    try:
        proc = psutil.Process(stack.worker.pid)
        samples: list[tuple[float, float, int]] = []  # (seconds, RSS MiB, events handled)
        started = time.monotonic()
        first = stack.handled()
        next_report = started + 60
        while time.monotonic() - started < seconds:
            if not stack.worker.alive():
                raise RuntimeError(f"soak worker exited:\n{stack.worker.tail()}")
            count = stack.handled() - first
            samples.append((round(time.monotonic() - started, 1), round(proc.memory_info().rss / 2**20, 1), count))
            if time.monotonic() > next_report:
                ctx.progress(f"  soak {samples[-1][0]:.0f}/{seconds:.0f}s: worker RSS {samples[-1][1]} MiB, {count:,} events")
                next_report += 60
            time.sleep(sample_every)
        count = stack.handled() - first
        after = [x for x in samples if x[0] >= warmup] or samples
        rss = [x[1] for x in after]
        mean = statistics.fmean(rss)
        band = max(abs(max(rss) - mean), abs(min(rss) - mean)) / mean if mean else 0.0
        third = max(1, len(rss) // 3)
        early = statistics.fmean(rss[:third])
        drift = (statistics.fmean(rss[-third:]) - early) / early if early else 0.0
        return {
            "seconds": seconds,
            "warmup_s": warmup,
            "calls_per_second": calls_per_second,
            "events": count,
            "events_per_s": count / seconds if seconds else 0.0,
            "rss_mb_first": samples[0][1] if samples else None,
            "rss_mb_after_warmup_mean": round(mean, 1),
            "rss_mb_after_warmup_min": min(rss),
            "rss_mb_after_warmup_max": max(rss),
            "band_fraction": band,  # largest deviation from the post-warm-up mean
            "drift_fraction": drift,  # last third vs first third after warm-up
            "samples": samples,
        }
    finally:
        ctx.finish(sim, 15)
