"""Token buckets, in memory and in the database: capacity, refill, retry delay, and exactness under concurrency."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from atlas_sa.kit.buckets import PURGE_SECONDS, BucketStore, MemoryBuckets, Policy, SqlBuckets
from atlas_sa.kit.db import Database

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
    assert len(store) <= 100


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
    await store.drain("seen", day, 1000.0)
    assert await store.peek("seen", day, 1000.0 + 86_399) < 1
    # Draining again restarts the refill from then, unlike a take, which an empty bucket refuses.
    await store.drain("seen", day, 50_000.0)
    assert await store.peek("seen", day, 1000.0 + 86_400) < 1
    assert await store.peek("seen", day, 50_000.0 + 86_400) == 1.0


async def test_below_one_lists_the_empty_buckets_under_prefixes(db: Database) -> None:
    store = SqlBuckets(db.engine)
    one = Policy("one", capacity=1, refill=1, period=60)
    for key in ("bf:x:pair:a", "bf:x:pair:b", "bf:x:address:c", "bf:x_y:pair:d", "bf:x%:pair:e", "other:f"):
        await store.take(key, one, 100.0)
    await store.take("bf:x:pair:full", POLICY, 100.0)  # four tokens left: not listed
    await store.drain("bf:x:pair:b", one, 130.0)
    found = await store.below_one(["bf:x:pair:", "bf:x%:pair:"])
    assert sorted(found) == [("bf:x%:pair:e", 0.0, 100.0), ("bf:x:pair:a", 0.0, 100.0), ("bf:x:pair:b", 0.0, 130.0)]
    assert await store.below_one([]) == []


async def test_memory_store_keeps_each_policy_apart() -> None:
    store = MemoryBuckets(max_keys=4)
    other = Policy("other", capacity=5, refill=5, period=60)
    for _ in range(5):
        await store.take("victim", other, 0.0)
    for i in range(100):
        await store.take(f"flood-{i}", POLICY, 0.0)
    assert await store.peek("victim", other, 0.0) == 0.0
    assert len(store) == 5


async def test_memory_store_forgets_what_says_least() -> None:
    store = MemoryBuckets(max_keys=4)
    for _ in range(5):
        await store.take("locked", POLICY, 0.0)  # empty: a lockout
    for _ in range(3):
        await store.take("counted", POLICY, 0.0)  # three failures counted
    for i in range(100):
        await store.take(f"flood-{i}", POLICY, 0.0)  # one each, as a flood of new keys takes
    assert await store.peek("locked", POLICY, 0.0) == 0.0
    assert await store.peek("counted", POLICY, 0.0) == 2.0
    assert await store.peek("flood-99", POLICY, 0.0) == 4.0, "the newest flood key took an older one's place"
    assert len(store) == 4


async def test_memory_store_keeps_lockouts_over_newcomers() -> None:
    store = MemoryBuckets(max_keys=2)
    for key in ("a", "b"):
        for _ in range(5):
            await store.take(key, POLICY, 0.0)
    await store.take("new", POLICY, 1.0)
    assert await store.peek("new", POLICY, 1.0) == 5.0, "not kept: every bucket held says more"
    assert await store.peek("a", POLICY, 1.0) < 1
    # Once a lockout has refilled as far as a newcomer would be, it may go.
    await store.take("new", POLICY, 48.0)  # "a" and "b" hold 4 tokens again
    assert await store.peek("new", POLICY, 48.0) == 4.0
    assert len(store) == 2


async def test_sql_store_deletes_full_rows(db: Database) -> None:
    fast = Policy("fast", capacity=2, refill=2, period=10)
    store = SqlBuckets(db.engine, [("f:", fast), ("p:", POLICY)])
    await store.take("f:used", fast, 1000.0)  # the first write purges (nothing yet), then not for PURGE_SECONDS
    await store.take("p:used", POLICY, 1000.0)
    for _ in range(5):
        await store.take("p:empty", POLICY, 1000.0)
    await store.drain("old-format", fast, 1000.0)

    async def keys() -> list[str]:
        async with db.engine.connect() as connection:
            rows = await connection.execute(text("SELECT key FROM rate_limit_buckets ORDER BY key"))
            return [row[0] for row in rows]

    assert await keys() == ["f:used", "old-format", "p:empty", "p:used"]
    # 10 s on: "f:used" is full (2 per 10 s), "p:used" is not (one token every 12 s).
    assert await store.purge(1010.0) == 1
    assert await keys() == ["old-format", "p:empty", "p:used"]
    # A row no family claims goes once the slowest refill of all (60 s from empty) has passed.
    assert await store.purge(1060.0) == 3
    assert await keys() == []
    # Writes purge on their own, once every PURGE_SECONDS.
    await store.take("f:a", fast, 2000.0)
    await store.take("f:b", fast, 2000.0 + PURGE_SECONDS - 1)
    assert await keys() == ["f:a", "f:b"]
    await store.take("f:c", fast, 2000.0 + PURGE_SECONDS)
    assert await keys() == ["f:b", "f:c"], "f:a refilled long ago, f:b a second ago is not full"
