"""The Redis the project starts for itself (demo, tests, bench): how it is configured."""

from __future__ import annotations

from processors.store import WindowStore


async def test_the_embedded_redis_is_durable_and_rewrites_its_log_rarely(store: WindowStore) -> None:
    """fsync before every reply; a log rewrite (a fork, and fsyncs competing with it) only
    past 512 MB, not Redis' 64 MB, which forked one every ~30 s at 5k events/s."""
    config = await store.client.config_get("append*")
    assert config["appendonly"] == "yes" and config["appendfsync"] == "always"
    assert int((await store.client.config_get("auto-aof-rewrite-min-size"))["auto-aof-rewrite-min-size"]) == 512 * 2**20
