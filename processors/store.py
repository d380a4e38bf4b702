"""The Redis windowed tables: apply folded batches, read buckets back.

Writes go through one Lua script per batch (see ``apply_batch.lua``), so a batch is
applied atomically in one round trip, and each event at most once thanks to its
dedupe key. Reads fetch every bucket a set of windows needs in one pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from processors import keys
from processors.fold import Update
from processors.window_sums import WindowSums
from processors.windows import RESOLUTIONS, Bucket

log = logging.getLogger(__name__)

STATUS_NEW, STATUS_DUPLICATE, STATUS_CONFLICT, STATUS_REPLAY, STATUS_OUT_OF_ORDER = 0, 1, 2, 3, 4


class Source(NamedTuple):
    """Where a message came from: the dead-letter record and the replay check use it.

    A named tuple, not a frozen dataclass: one is made per event, and a tuple is
    made and hashed in C (half the cost, measured)."""

    topic: str
    partition: int
    offset: int
    index: int | None = None
    """Position of the event inside a batch envelope (``streams.envelope``); None for a plain message."""

    def __str__(self) -> str:
        plain = f"{self.topic}:{self.partition}:{self.offset}"
        return plain if self.index is None else f"{plain}#{self.index}"


def rejected_key(app: str, source: Source) -> str:
    """The rejection marker of one event: per message, or per event of an envelope
    (``apply_batch.lua`` builds the same name from the same prefix and source)."""
    return keys.rejected_prefix(app) + str(source)


@dataclass(frozen=True, slots=True)
class RejectionMark:
    source: Source
    reason: str


def connect(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=3, socket_timeout=10, health_check_interval=15
    )


class WindowStore:
    def __init__(self, client: aioredis.Redis, app_id: str) -> None:
        self.client = client
        self.app_id = app_id
        scripts = resources.files("processors")
        # both scripts write buckets, so both stamp them (bucket_versions.lua)
        prelude = scripts.joinpath("bucket_versions.lua").read_text() + "\n"
        self._script = client.register_script(prelude + scripts.joinpath("apply_batch.lua").read_text())
        self._expire_carts = client.register_script(prelude + scripts.joinpath("expire_carts.lua").read_text())
        self._buckets = BucketCache()
        self._sums = WindowSums()
        self._partition_fields: dict[tuple[str, int], str] = {}

    def _partition_field(self, src: Source) -> str:
        """``topic|partition``, made once per partition rather than once per event."""
        where = (src.topic, src.partition)
        field = self._partition_fields.get(where)
        if field is None:
            field = self._partition_fields[where] = f"{src.topic}|{src.partition}"
        return field

    def _payload(self, now: float, updates: Sequence[tuple[Update, Source]], rejections: Iterable[RejectionMark]) -> bytes:
        """The script's argument. What many events share (bucket target lists, topics,
        segment-set keys) is sent once and referred to by position: decoding the JSON
        is a quarter of the script's time, and the targets were half of every update."""
        app = self.app_id
        shared = _Interned()
        out_updates = []
        for u, src in updates:
            item: dict[str, Any] = {
                "e": u.event_id,
                "f": u.fingerprint,
                "src": str(src),
                "t": shared.index(src.topic),
                "p": shared.index(self._partition_field(src)),
                "x": u.dedupe_expire_at,
                "s": u.segment,
                "sk": shared.index(keys.segments(app, u.stream)),
                "ts": u.ts,
                "c": u.counts,
                "b": shared.index_of_list(u.targets),
            }
            if u.ops:
                item["o"] = u.ops
            if u.agent_targets:
                item["ab"] = shared.index_of_list(u.agent_targets)
                item["ask"] = shared.index(keys.segments(app, u.stream + "_agents"))
                if u.agent:
                    item["ag"] = u.agent
            if u.attribute:
                item["at"] = u.attribute
            if u.lifecycle:
                item["lc"] = u.lifecycle
            out_updates.append(item)
        marks = [{"src": str(r.source), "t": shared.index(r.source.topic), "reason": r.reason} for r in rejections]
        return orjson.dumps(
            {
                "now": now,
                "health": keys.health(app),
                "parts": keys.partitions(app),
                "seen": keys.seen(app, ""),
                "rejected": keys.rejected_prefix(app),
                "versions": keys.bucket_versions(app),
                "shared": shared.values,
                "u": out_updates,
                "r": marks,
            }
        )

    async def apply(
        self, now: float, updates: Sequence[tuple[Update, Source]], rejections: Sequence[RejectionMark] = ()
    ) -> list[int]:
        """Apply a batch; returns one status per update then one per rejection."""
        if not updates and not rejections:
            return []
        result = await self._script(args=[self._payload(now, updates, rejections)])
        return [int(x) for x in result]

    async def apply_with_retry(
        self,
        now_fn: Any,
        updates: Sequence[tuple[Update, Source]],
        rejections: Sequence[RejectionMark],
        *,
        max_backoff: float,
        stopping: Any = None,
    ) -> list[int]:
        """Retry until Redis takes the batch: offsets must not move past unstored events.

        Gives up only when the caller is stopping (``stopping()`` true); the caller then
        exits without committing, and the batch is replayed on restart.
        """
        delay = 0.1
        attempt = 0
        while True:
            try:
                return await self.apply(now_fn(), updates, rejections)
            except (RedisConnectionError, RedisTimeoutError, OSError, RedisError) as exc:
                attempt += 1
                if stopping is not None and stopping():
                    raise
                level = logging.WARNING if attempt in (1, 2, 5) or attempt % 20 == 0 else logging.DEBUG
                log.log(level, "redis unavailable (attempt %d, retrying in %.1fs): %s", attempt, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_backoff)

    async def expire_carts(self, now: float, timeout: float, ttls: dict[str, int], limit: int = 1000) -> int:
        """Count carts idle past ``timeout`` as abandoned; returns how many this call counted."""
        args: list[Any] = [
            keys.open_carts(self.app_id), now, timeout, limit,
            f"{self.app_id}:carts:", keys.cart_ended(self.app_id, ""), 7 * 86400, keys.bucket_versions(self.app_id),
        ]
        for res, size in RESOLUTIONS.items():
            args += [res, size, ttls[res]]
        return int(await self._expire_carts(args=args))

    async def open_carts(self) -> dict[str, int]:
        """Open carts per segment (channel)."""
        members = await self.client.zrange(keys.open_carts(self.app_id), 0, -1)
        out: dict[str, int] = {}
        for member in members:
            seg = member.split("\t", 1)[0]
            out[seg] = out.get(seg, 0) + 1
        return out

    async def already_seen(self, event_ids: Sequence[str]) -> set[str]:
        """Event ids whose dedupe key exists (their side effects already happened)."""
        if not event_ids:
            return set()
        async with self.client.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.exists(keys.seen(self.app_id, event_id))
            replies = await pipe.execute()
        return {eid for eid, hit in zip(event_ids, replies) if hit}

    async def already_dead_lettered(self, sources: Sequence[Source]) -> set[Source]:
        """Sources whose rejection marker exists: their dead-letter record was published
        before the marker was set, so a replay need not publish it again."""
        if not sources:
            return set()
        async with self.client.pipeline(transaction=False) as pipe:
            for s in sources:
                pipe.exists(rejected_key(self.app_id, s))
            replies = await pipe.execute()
        return {s for s, hit in zip(sources, replies) if hit}

    # ------------------------------------------------------------------ reading

    async def read(self, stream: str, buckets: Iterable[Bucket]) -> "Readout":
        """Segments, totals and the given buckets (deduplicated).

        Two round trips: segments, totals and the buckets' stamps first, then only the
        buckets whose stamp moved since this store last read them (``bucket_versions.lua``).
        Stamps are read before contents, so a cached bucket is never older than its stamp.
        The parsed buckets are shared with the cache: read them, never mutate them.
        """
        app = self.app_id
        wanted = sorted(set(buckets), key=lambda b: (b.res, b.start))
        names = [keys.bucket(app, stream, b) for b in wanted]
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.smembers(keys.segments(app, stream))
            pipe.hgetall(keys.totals(app, stream))
            if names:
                pipe.hmget(keys.bucket_versions(app), names)
            replies = await pipe.execute()
        stamps: list[str | None] = replies[2] if names else []
        parsed = self._buckets.lookup(names, stamps)
        stale = [i for i, hit in enumerate(parsed) if hit is None]
        if stale:
            async with self.client.pipeline(transaction=False) as pipe:
                for i in stale:
                    pipe.hgetall(names[i])
                raw = await pipe.execute()
            for i, fields in zip(stale, raw):
                parsed[i] = self._buckets.store(names[i], stamps[i], _parse(fields))
        return Readout(
            segments=sorted(replies[0]),
            totals=_parse(replies[1]),
            buckets=dict(zip(wanted, parsed)),  # type: ignore[arg-type]  # none left unset
            stream=stream,
            sums=self._sums,
        )

    async def oldest(self, zsets: dict[str, str]) -> dict[str, tuple[int, float | None]]:
        """Per segment, for its sorted set (waiting calls, open tickets): (size, oldest score)."""
        if not zsets:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for key in zsets.values():
                pipe.zcard(key)
                pipe.zrange(key, 0, 0, withscores=True)
            replies = await pipe.execute()
        out: dict[str, tuple[int, float | None]] = {}
        for i, seg in enumerate(zsets):
            count, first = replies[2 * i], replies[2 * i + 1]
            out[seg] = (int(count), float(first[0][1]) if first else None)
        return out

    async def waiting(self, segments: Sequence[str]) -> dict[str, tuple[int, float | None]]:
        """Per call segment: (calls waiting, queued-at of the oldest)."""
        return await self.oldest({seg: keys.waiting(self.app_id, seg) for seg in segments})

    async def nps_last(self, segments: Sequence[str]) -> dict[str, list[str]]:
        """Per survey segment, the newest NPS classes (p/s/d), newest first."""
        if not segments:
            return {}
        prefix = keys.nps_last_prefix(self.app_id)
        async with self.client.pipeline(transaction=False) as pipe:
            for seg in segments:
                pipe.lrange(prefix + seg, 0, -1)
            replies = await pipe.execute()
        return dict(zip(segments, replies))

    async def workers(self) -> dict[str, float]:
        """Worker id -> last heartbeat (epoch seconds)."""
        return {k: float(v) for k, v in await self.client.zrange(keys.workers(self.app_id), 0, -1, withscores=True)}

    async def health(self) -> dict[str, float]:
        return {k: float(v) for k, v in (await self.client.hgetall(keys.health(self.app_id))).items()}

    async def partitions(self) -> dict[str, dict[str, float]]:
        """Events folded per topic and partition (the partition as a string: the
        snapshot is served as JSON)."""
        return partitions_of(await self.client.hgetall(keys.partitions(self.app_id)))


_EMPTY: dict[str, dict[str, float]] = {}  # a bucket nobody wrote: one object, so WindowSums sees it unchanged


@dataclass(slots=True)
class Readout:
    segments: list[str]
    totals: dict[str, dict[str, float]]
    buckets: dict[Bucket, dict[str, dict[str, float]]]
    stream: str
    sums: WindowSums  # the store's: closed buckets unchanged since the last read are not re-added

    def window(self, buckets: Iterable[Bucket]) -> dict[str, dict[str, float]]:
        """Sum the given buckets per segment: exact, because only counters are stored."""
        wanted = list(buckets)
        return self.sums.window(self.stream, wanted, [self.buckets.get(b, _EMPTY) for b in wanted])


class BucketCache:
    """Parsed buckets by key, with the stamp they were read at.

    An entry is used only while Redis holds the same stamp for its bucket. A bucket
    without a stamp is cached only if it was empty (never written, or expired): every
    write stamps, so content can only appear under a new stamp. One that holds data
    but no stamp (written before stamps existed) is read every time. Entries no read
    has asked for in ``keep_seconds`` are dropped, so the cache holds what the windows
    still cover, not history.
    """

    def __init__(self, keep_seconds: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.keep_seconds = keep_seconds
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._entries: dict[str, tuple[str | None, dict[str, dict[str, float]], float]] = {}
        self._pruned_at = clock()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, names: Sequence[str], stamps: Sequence[str | None]) -> list[dict[str, dict[str, float]] | None]:
        now = self.clock()
        if now - self._pruned_at > self.keep_seconds / 10:
            self._prune(now)
        out: list[dict[str, dict[str, float]] | None] = []
        for name, stamp in zip(names, stamps):
            entry = self._entries.get(name)
            if entry is not None and entry[0] == stamp:
                self._entries[name] = (stamp, entry[1], now)
                out.append(entry[1])
            else:
                out.append(None)
        self.misses += out.count(None)
        self.hits += len(out) - out.count(None)
        return out

    def store(self, name: str, stamp: str | None, parsed: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        if stamp is None and parsed:
            self._entries.pop(name, None)
        else:
            self._entries[name] = (stamp, parsed, self.clock())
        return parsed

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        old = [name for name, (_s, _p, used) in self._entries.items() if now - used > self.keep_seconds]
        for name in old:
            del self._entries[name]


class _Interned:
    """Values sent once per script call, referred to by their 0-based position."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._by_value: dict[str, int] = {}
        self._by_id: dict[int, int] = {}

    def index(self, value: str) -> int:
        at = self._by_value.get(value)
        if at is None:
            at = self._by_value[value] = len(self.values)
            self.values.append(value)
        return at

    def index_of_list(self, value: list[Any]) -> int:
        """Bucket target lists are cached and shared between the events of a minute,
        so their identity is enough (and far cheaper than comparing them)."""
        at = self._by_id.get(id(value))
        if at is None:
            at = self._by_id[id(value)] = len(self.values)
            self.values.append(value)
        return at


def partitions_of(raw: dict[str, str]) -> dict[str, dict[str, float]]:
    """``{"topic|3": "12"}`` -> ``{"topic": {"3": 12.0}}``, partitions in number order."""
    out: dict[str, dict[str, float]] = {}
    for field, value in sorted(raw.items(), key=lambda kv: int(kv[0].rpartition("|")[2])):
        topic, _, partition = field.rpartition("|")
        out.setdefault(topic, {})[partition] = float(value)
    return out


def _parse(raw: dict[str, str]) -> dict[str, dict[str, float]]:
    """``{"queue|channel|field": "1.5"}`` -> ``{"queue|channel": {"field": 1.5}}``."""
    out: dict[str, dict[str, float]] = {}
    for compound, value in raw.items():
        seg, _, name = compound.rpartition("|")
        out.setdefault(seg, {})[name] = float(value)
    return out
