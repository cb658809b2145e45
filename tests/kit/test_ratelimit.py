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
