"""Level 1: LRU order, TTL with an injected clock, tags, patterns, the bounded memory."""

from __future__ import annotations

from cache_support import FakeClock

from otel_perf.cache.local import Entry, LocalStore


def entry(
    clock: FakeClock, ttl: float = 10.0, tags: tuple[str, ...] = (), blob: bytes = b"J\x001"
) -> Entry:
    return Entry(blob, clock() + ttl, clock(), frozenset(tags))


def test_least_recently_used_entry_is_evicted_past_max_size(clock: FakeClock) -> None:
    store = LocalStore(max_size=2, clock=clock)
    store.put("a", entry(clock))
    store.put("b", entry(clock))
    assert store.get("a").entry is not None  # a is now the most recently used
    evicted = store.put("c", entry(clock))
    assert [(r.key, r.reason) for r in evicted] == [("b", "size")]
    assert len(store) == 2
    look = store.get("b")
    assert look.entry is None and look.miss_reason == "evicted"


def test_entry_expires_at_its_ttl_and_the_miss_says_how_long_ago(clock: FakeClock) -> None:
    store = LocalStore(max_size=10, clock=clock)
    store.put("k", entry(clock, ttl=5.0))
    clock.advance(4.999)
    assert store.get("k").entry is not None
    clock.advance(2.001)
    look = store.get("k")
    assert look.entry is None and look.miss_reason == "expired"
    assert look.expired is not None and look.expired.hits == 1
    assert abs((look.expired_ago_s or 0) - 2.0) < 1e-9
    clock.advance(10)
    again = store.get("k")  # remembered: 12 s ago
    assert again.miss_reason == "expired" and abs((again.expired_ago_s or 0) - 12.0) < 1e-9
    clock.advance(60)
    late = store.get("k")  # still expired, but too long ago to report the age
    assert late.miss_reason == "expired" and late.expired_ago_s is None
    assert store.get("never").miss_reason == "absent"


def test_an_expired_entry_at_the_lru_end_goes_as_ttl_not_size(clock: FakeClock) -> None:
    store = LocalStore(max_size=1, clock=clock)
    store.put("old", entry(clock, ttl=1.0))
    clock.advance(2)
    assert [(r.key, r.reason) for r in store.put("new", entry(clock))] == [("old", "ttl")]


def test_tags_and_patterns_remove_only_their_entries(clock: FakeClock) -> None:
    store = LocalStore(max_size=10, clock=clock)
    store.put("user:1", entry(clock, tags=("users", "eu")))
    store.put("user:2", entry(clock, tags=("users",)))
    store.put("order:1", entry(clock, tags=("eu",)))
    assert sorted(r.key for r in store.remove_tag("eu")) == ["order:1", "user:1"]
    assert store.remove_tag("eu") == []
    assert [r.key for r in store.remove_pattern("user:[0-9]")] == ["user:2"]
    assert len(store) == 0
    assert store.get("user:1").miss_reason == "invalidated"


def test_re_putting_a_key_replaces_its_tags_and_bytes(clock: FakeClock) -> None:
    store = LocalStore(max_size=10, clock=clock)
    store.put("k", entry(clock, tags=("old",), blob=b"J\x00" + b"1" * 10))
    store.put("k", entry(clock, tags=("new",), blob=b"J\x001"))
    assert store.remove_tag("old") == []
    assert store.snapshot().bytes == 3
    assert [r.key for r in store.remove_tag("new")] == ["k"]
    assert store.snapshot().bytes == 0


def test_the_memory_of_removed_keys_is_bounded_and_counts_what_it_forgets(clock: FakeClock) -> None:
    store = LocalStore(max_size=2, clock=clock, memory_size=3)
    for i in range(10):
        store.put(f"k{i}", entry(clock))
    assert store.forgotten == 5  # 8 evicted, 3 remembered
    assert store.get("k7").miss_reason == "evicted"
    assert store.get("k0").miss_reason == "absent"


def test_snapshot_drops_expired_entries_and_reports_them(clock: FakeClock) -> None:
    store = LocalStore(max_size=10, clock=clock)
    store.put("short", entry(clock, ttl=1))
    store.put("long", entry(clock, ttl=100, blob=b"J\x01xx"))
    clock.advance(5)
    snapshot = store.snapshot()
    assert (snapshot.entries, snapshot.compressed) == (1, 1)
    assert [(r.key, r.reason) for r in snapshot.expired] == [("short", "ttl")]
