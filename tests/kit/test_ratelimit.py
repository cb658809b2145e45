"""Token buckets, in memory and in the database: capacity, refill, retry delay, and exactness under concurrency."""

from __future__ import annotations

import asyncio

import pytest

from atlas_sa.kit.db import Database
from atlas_sa.kit.ratelimit import BucketStore, MemoryBuckets, Policy, SqlBuckets

POLICY = Policy("test", capacity=5, refill=5, period=60)  # one token back every 12 s


@pytest.fixture(params=["memory", "sql"])
def store(request: pytest.FixtureRequest, db: Database) -> BucketStore:
    return MemoryBuckets() if request.param == "memory" else SqlBuckets(db.engine)


async def test_capacity_then_refusal(store: BucketStore) -> None:
    decisions = [await store.take("k", POLICY, 1000.0) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.retry_after == 12
    assert refused.headers() == {"RateLimit-Limit": "5", "RateLimit-Remaining": "0", "Retry-After": "12"}
    assert "Retry-After" not in decisions[0].headers()


async def test_refill_over_time(store: BucketStore) -> None:
    for _ in range(5):
        await store.take("k", POLICY, 1000.0)
    assert not (await store.take("k", POLICY, 1011.0)).allowed
    assert (await store.take("k", POLICY, 1012.0)).allowed
    assert not (await store.take("k", POLICY, 1012.0)).allowed
    full = await store.take("k", POLICY, 5000.0)
    assert full.allowed
    assert full.remaining == 4, "refill stops at capacity"


async def test_keys_are_independent(store: BucketStore) -> None:
    for _ in range(5):
        await store.take("a", POLICY, 0.0)
    assert not (await store.take("a", POLICY, 0.0)).allowed
    assert (await store.take("b", POLICY, 0.0)).allowed


async def test_clock_going_backwards_does_not_mint_tokens(store: BucketStore) -> None:
    for _ in range(5):
        await store.take("k", POLICY, 1000.0)
    assert not (await store.take("k", POLICY, 900.0)).allowed


async def test_exact_under_concurrency(db: Database) -> None:
    store = SqlBuckets(db.engine)
    policy = Policy("burst", capacity=20, refill=1, period=3600)
    decisions = await asyncio.gather(*(store.take("shared", policy, 50.0) for _ in range(60)))
    assert sum(d.allowed for d in decisions) == 20


async def test_memory_store_is_bounded() -> None:
    store = MemoryBuckets(max_keys=100)
    for i in range(1000):
        await store.take(f"key-{i}", POLICY, 0.0)
    assert len(store._buckets) <= 100


async def test_decisions_carry_the_exact_level(store: BucketStore) -> None:
    assert (await store.take("k", POLICY, 1000.0)).tokens == 4.0
    for _ in range(4):
        await store.take("k", POLICY, 1000.0)
    refused = await store.take("k", POLICY, 1006.0)  # half a token back
    assert not refused.allowed
    assert refused.tokens == pytest.approx(0.5)


async def test_take_all_decides_each_bucket(store: BucketStore) -> None:
    small = Policy("small", capacity=1, refill=1, period=60)
    first = await store.take_all([("a", POLICY), ("b", small)], 0.0)
    assert [(d.allowed, d.remaining) for d in first] == [(True, 4), (True, 0)]
    second = await store.take_all([("a", POLICY), ("b", small)], 0.0)
    assert [d.allowed for d in second] == [True, False], "an empty bucket does not stop the others"
    assert await store.peek("a", POLICY, 0.0) == 3.0


async def test_drain_empties_whatever_the_bucket_held(store: BucketStore) -> None:
    day = Policy("day", capacity=1, refill=1, period=86_400)
    await store.drain("seen", 1000.0)
    assert await store.peek("seen", day, 1000.0 + 86_399) < 1
    # Draining again restarts the refill from then, unlike a take, which an empty bucket refuses.
    await store.drain("seen", 50_000.0)
    assert await store.peek("seen", day, 1000.0 + 86_400) < 1
    assert await store.peek("seen", day, 50_000.0 + 86_400) == 1.0


async def test_below_one_lists_the_empty_buckets_under_prefixes(db: Database) -> None:
    store = SqlBuckets(db.engine)
    one = Policy("one", capacity=1, refill=1, period=60)
    for key in ("bf:x:pair:a", "bf:x:pair:b", "bf:x:address:c", "bf:x_y:pair:d", "bf:x%:pair:e", "other:f"):
        await store.take(key, one, 100.0)
    await store.take("bf:x:pair:full", POLICY, 100.0)  # four tokens left: not listed
    await store.drain("bf:x:pair:b", 130.0)
    found = await store.below_one(["bf:x:pair:", "bf:x%:pair:"])
    assert sorted(found) == [("bf:x%:pair:e", 0.0, 100.0), ("bf:x:pair:a", 0.0, 100.0), ("bf:x:pair:b", 0.0, 130.0)]
    assert await store.below_one([]) == []
