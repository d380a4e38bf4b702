"""The Redis the project starts for itself (demo, tests, bench): how it is configured."""

from __future__ import annotations

from processors.store import WindowStore


async def test_the_embedded_redis_is_durable_and_rewrites_its_log_rarely(store: WindowStore) -> None:
    """fsync before every reply; a log rewrite (a fork, and fsyncs competing with it) only
    past 512 MB, not Redis' 64 MB, which forked one every ~30 s at 5k events/s."""
    config = await store.client.config_get("append*")
    assert config["appendonly"] == "yes" and config["appendfsync"] == "always"
    assert int((await store.client.config_get("auto-aof-rewrite-min-size"))["auto-aof-rewrite-min-size"]) == 512 * 2**20


async def test_the_embedded_redis_keeps_only_small_sets_and_hashes_compact(store: WindowStore) -> None:
    """A queue's waiting set of hundreds must be a skiplist (O(log n) ZADD), a call's
    lifecycle hash of three fields stays compact."""
    client, t = store.client, store.app_id
    await client.zadd(f"{t}:waiting", {f"call-{i}": i for i in range(17)})
    await client.zadd(f"{t}:contacts", {f"c-{i}": i for i in range(3)})
    await client.hset(f"{t}:bucket", mapping={f"seg|f{i}": i for i in range(17)})
    await client.hset(f"{t}:lifecycle", mapping={"queued": 1, "answered": 2})
    assert await client.object("encoding", f"{t}:waiting") == "skiplist"
    assert await client.object("encoding", f"{t}:contacts") in {"ziplist", "listpack"}
    assert await client.object("encoding", f"{t}:bucket") == "hashtable"
    assert await client.object("encoding", f"{t}:lifecycle") in {"ziplist", "listpack"}
