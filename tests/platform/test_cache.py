from __future__ import annotations

from payfacile.platform.cache import LocalCache


def test_local_cache_expires_entries() -> None:
    cache: LocalCache[str] = LocalCache(ttl=60)
    cache.set("a", "1")
    cache.set("b", "2", ttl=-1)
    assert cache.get("a") == (True, "1")
    assert cache.get("b") == (False, None)


def test_a_flood_of_new_keys_evicts_the_least_recently_used_only() -> None:
    cache: LocalCache[str] = LocalCache(ttl=60, max_entries=100)
    cache.set("hot.example", "store")
    for n in range(1_000):
        cache.get("hot.example")  # the hot entry stays recently used
        cache.set(f"random-{n}.example", "none")
    assert cache.get("hot.example") == (True, "store")
    assert cache.get("random-0.example") == (False, None)
    assert cache.get("random-999.example") == (True, "none")


def test_none_is_a_cached_value_distinct_from_a_miss() -> None:
    cache: LocalCache[str | None] = LocalCache(ttl=60)
    cache.set("unknown.example", None)
    assert cache.get("unknown.example") == (True, None)
    assert cache.get("never.example") == (False, None)
