"""What this machine allows: upper bounds on throughput from the CPU each process spent per event.

Why: two of the goals compare runs that share a small machine with Redis and the broker.
On two cores, two workers cannot beat one by more than the cores left over, however
good the worker is. These bounds say, from the same run's measurements, how far a goal
is from what the machine can give at all, so a ratio is read against its ceiling.

The bounds are optimistic: they assume perfect overlap and nothing else on the machine
(the harness itself, other tenants of a shared host).
"""

from __future__ import annotations

from typing import Any

PROCESSES = ("worker", "redis", "broker")


def cpu_per_event(entry: dict[str, Any]) -> dict[str, float] | None:
    """Seconds of CPU per event of the workers (together), Redis and the broker; None
    when the step did not record all three (an older result, a failed step)."""
    if entry.get("status") != "ok" or entry.get("broker_cpu_seconds") is None or not entry.get("events"):
        return None
    n = float(entry["events"])
    return {
        "worker": sum(entry.get("worker_cpu_seconds") or []) / n,
        "redis": float(entry["redis_cpu_seconds"]) / n,
        "broker": float(entry["broker_cpu_seconds"]) / n,
    }


def bound(cost: dict[str, float], cores: int, workers: int) -> float:
    """Events/s no schedule can beat: a worker is one Python process (about one core,
    the GIL), Redis runs scripts on one thread, and all of them share ``cores``."""
    w, r, b = (cost[p] for p in PROCESSES)
    limits = [workers / w if w else float("inf"), 1 / r if r else float("inf")]
    if w + r + b:
        limits.append(cores / (w + r + b))
    return min(limits)


def ceilings(result: dict[str, Any]) -> dict[str, Any]:
    cores = int((result.get("machine") or {}).get("usable_cpus") or 0)
    throughput = result.get("throughput") or {}
    out: dict[str, Any] = {"cores": cores}
    if not cores:
        return out
    for name in ("cxpulse", "cxpulse_envelope", "cxpulse_2_workers"):
        cost = cpu_per_event(throughput.get(name) or {})
        if cost is not None:
            workers = int(throughput[name].get("workers") or 1)
            out[name] = {"cpu_us_per_event": {p: round(c * 1e6, 1) for p, c in cost.items()},
                         "bound_events_per_s": round(bound(cost, cores, workers))}
    one = (throughput.get("cxpulse") or {}).get("events_per_s")
    if "cxpulse_2_workers" in out and one:
        # what two workers could reach with the CPU per event they spent, over what one did:
        # the measured ratio cannot be above it
        out["two_workers_ratio"] = round(out["cxpulse_2_workers"]["bound_events_per_s"] / one, 2)
    packed = cpu_per_event(throughput.get("cxpulse_envelope") or {})
    loop = (throughput.get("aiokafka_envelope") or {}).get("events_per_s")
    if packed is not None and loop:
        out["envelope_ratio"] = round(bound(packed, cores, 1) / loop, 2)
        # 0.5x the loop needs each one-thread process under 1/target and all three under cores/target
        target = 0.5 * loop
        out["envelope_half_needs_us"] = {"each": round(1e6 / target, 1), "all": round(1e6 * cores / target, 1)}
    return out
