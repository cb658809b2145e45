"""Token-bucket rate limits, as Atlas applies them: per credential and scope, with capacity and a refill rate.

Two stores with one interface: :class:`MemoryBuckets` for a single process (the SQLite deployment), and
:class:`SqlBuckets`, where one atomic statement per request refills and takes a token in the
``rate_limit_buckets`` table, so every instance sharing a PostgreSQL shares the buckets. The SQL store consumes in
its own short transaction: a request that later fails still spent its token, as it does at Atlas.

Besides taking and peeking, a bucket can be emptied outright (:meth:`~BucketStore.drain`: "this happened now",
e.g. a one-token bucket that records the latest success), and the SQL store can list the buckets under one token
(:meth:`SqlBuckets.below_one`), for an instance that must learn which ones are empty after losing track.

**Bounded state.** A bucket that has refilled to capacity says nothing a missing one does not, so neither store
keeps it for long. :class:`SqlBuckets`, told which policy each key prefix belongs to, deletes its full rows at most
once every :data:`PURGE_SECONDS` (:meth:`SqlBuckets.purge`), so the table holds only buckets in use. The memory
store keeps each policy's buckets apart, at most ``max_keys`` of them, and when a policy's map is full it forgets
the oldest bucket holding at least as many tokens as the newcomer (the newcomer itself when there is none), so a
flood of new keys only ever pushes out buckets that say as little as its own: failure counts and lockouts survive
it, and a flood of one policy's keys never touches another's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


@dataclass(frozen=True, slots=True)
class Policy:
    """``capacity`` requests at most; ``refill`` tokens come back every ``period`` seconds."""

    name: str
    capacity: int
    refill: int
    period: int

    @property
    def rate(self) -> float:
        return self.refill / self.period


def refilled(policy: Policy, tokens: float, updated: float, now: float) -> float:
    """The level at ``now`` of a bucket that held ``tokens`` at ``updated``: the one formula every store uses (the
    SQL statements spell it too), so a level computed from a copy of a bucket agrees with the store's own."""
    return min(float(policy.capacity), tokens + max(0.0, now - updated) * policy.rate)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int
    # The bucket's exact level once decided (after the take, or at the refusal): below 1 means it is now empty.
    tokens: float = 0.0

    def headers(self) -> dict[str, str]:
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def _decide(policy: Policy, tokens_after: float | None, tokens_now: float) -> Decision:
    if tokens_after is not None:
        return Decision(True, policy.capacity, max(0, math.floor(tokens_after)), 0, tokens_after)
    wait = math.ceil((1 - tokens_now) / policy.rate) if policy.rate > 0 else policy.period
    return Decision(False, policy.capacity, 0, max(1, wait), tokens_now)


class BucketStore(Protocol):
    async def take(self, key: str, policy: Policy, now: float) -> Decision: ...

    async def take_all(self, wanted: Sequence[tuple[str, Policy]], now: float) -> list[Decision]:
        """One token from each bucket (each decided on its own), in one transaction where there is one."""
        ...

    async def peek(self, key: str, policy: Policy, now: float) -> float: ...

    async def drain(self, key: str, policy: Policy, now: float) -> None:
        """Empty the bucket as of ``now``, whatever it held."""
        ...


# How many buckets the memory store looks at, at most, to make room for one: the work per new key stays constant
# even when nothing can be forgotten.
_EVICTION_SCAN = 8


class MemoryBuckets:
    """Buckets of one process. Safe without locks: the event loop runs one coroutine at a time and ``take``
    does not await between reading and writing a bucket.

    Each policy's buckets live in a map of their own, in the order they were last written, at most ``max_keys`` per
    policy. To make room for a new key in a full map, the oldest buckets are examined (:data:`_EVICTION_SCAN` at
    most) and the first that holds, now, at least as many tokens as the newcomer would is forgotten; a bucket
    examined and kept goes to the back, so the next search starts elsewhere. When none qualifies the newcomer is
    not kept: its next take starts from a full bucket again. Forgetting only ever gives a bucket's owner more
    tokens, and what goes first says the least: a refilled bucket before a drained one, never a lockout (under one
    token) to make room for a bucket a take has just opened (capacity - 1)."""

    def __init__(self, max_keys: int = 20_000) -> None:
        self._maps: dict[str, dict[str, tuple[float, float]]] = {}
        self._max_keys = max_keys

    def __len__(self) -> int:
        return sum(len(buckets) for buckets in self._maps.values())

    def _buckets(self, policy: Policy) -> dict[str, tuple[float, float]]:
        buckets = self._maps.get(policy.name)
        if buckets is None:
            buckets = self._maps[policy.name] = {}
        return buckets

    def _refilled(self, key: str, policy: Policy, now: float) -> float:
        tokens, updated = self._buckets(policy).get(key, (float(policy.capacity), now))
        return refilled(policy, tokens, updated, now)

    def _store(self, key: str, policy: Policy, tokens: float, now: float) -> None:
        buckets = self._buckets(policy)
        if (
            buckets.pop(key, None) is None
            and len(buckets) >= self._max_keys
            and not self._make_room(buckets, policy, tokens, now)
        ):
            return
        buckets[key] = (tokens, now)

    @staticmethod
    def _make_room(buckets: dict[str, tuple[float, float]], policy: Policy, tokens: float, now: float) -> bool:
        for _ in range(min(_EVICTION_SCAN, len(buckets))):
            oldest = next(iter(buckets))
            held = buckets.pop(oldest)
            if refilled(policy, *held, now) >= tokens:
                return True
            buckets[oldest] = held
        return False

    async def take(self, key: str, policy: Policy, now: float) -> Decision:
        tokens = self._refilled(key, policy, now)
        if tokens >= 1:
            self._store(key, policy, tokens - 1, now)
            return _decide(policy, tokens - 1, tokens)
        self._store(key, policy, tokens, now)
        return _decide(policy, None, tokens)

    async def take_all(self, wanted: Sequence[tuple[str, Policy]], now: float) -> list[Decision]:
        return [await self.take(key, policy, now) for key, policy in wanted]

    async def peek(self, key: str, policy: Policy, now: float) -> float:
        return self._refilled(key, policy, now)

    async def drain(self, key: str, policy: Policy, now: float) -> None:
        self._store(key, policy, 0.0, now)


_TAKE_SQL = text(
    """
    INSERT INTO rate_limit_buckets (key, tokens, updated_at) VALUES (:key, :capacity - 1, :now)
    ON CONFLICT (key) DO UPDATE SET
        tokens = MIN_FN(:capacity, rate_limit_buckets.tokens
                                   + MAX_FN(0, :now - rate_limit_buckets.updated_at) * :rate) - 1,
        updated_at = :now
    WHERE MIN_FN(:capacity, rate_limit_buckets.tokens
                            + MAX_FN(0, :now - rate_limit_buckets.updated_at) * :rate) >= 1
    RETURNING tokens
    """
)
_PEEK_SQL = text("SELECT tokens, updated_at FROM rate_limit_buckets WHERE key = :key")
_DRAIN_SQL = text(
    """
    INSERT INTO rate_limit_buckets (key, tokens, updated_at) VALUES (:key, 0, :now)
    ON CONFLICT (key) DO UPDATE SET tokens = 0, updated_at = :now
    """
)
_BELOW_ONE_SQL = "SELECT key, tokens, updated_at FROM rate_limit_buckets WHERE tokens < 1 AND ({matches})"
# A row is full, and deleted, when its policy's refill has brought it back to capacity; a row no policy claims (a
# key of an older version) once it is older than the slowest refill of all.
_PURGE_SQL = "DELETE FROM rate_limit_buckets WHERE updated_at <= :settled OR {full}"
_FULL_SQL = "(key LIKE :p{i} ESCAPE '!' AND tokens + (:now - updated_at) * :r{i} >= :c{i})"
# How often each instance deletes the full rows, in the clock's seconds.
PURGE_SECONDS = 60.0


class SqlBuckets:
    """Buckets in the database, shared by every instance that uses it.

    ``families`` names the policy of each key prefix (``("bf:oauth:pair:", policy)``…): with them the store
    deletes the rows that have refilled to capacity, at most once every :data:`PURGE_SECONDS` of the clock, in the
    first write after that (one statement, in its own transaction). Without them nothing is ever deleted."""

    def __init__(self, engine: AsyncEngine, families: Sequence[tuple[str, Policy]] = ()) -> None:
        self.engine = engine
        # SQLite spells LEAST/GREATEST as the two-argument MIN/MAX.
        least, greatest = ("MIN", "MAX") if engine.dialect.name == "sqlite" else ("LEAST", "GREATEST")
        self._take = text(str(_TAKE_SQL).replace("MIN_FN", least).replace("MAX_FN", greatest))
        self._families = list(families)
        full = " OR ".join(_FULL_SQL.format(i=i) for i in range(len(self._families))) or "FALSE"
        self._purge = text(_PURGE_SQL.format(full=full))
        # The slowest refill from empty of all the families: a row untouched that long is full whatever its policy.
        self._settle = max((policy.capacity / policy.rate for _prefix, policy in self._families), default=0.0)
        self._next_purge = -math.inf

    async def take(self, key: str, policy: Policy, now: float) -> Decision:
        async with self.engine.begin() as connection:
            decision = await self._take_in(connection, key, policy, now)
        await self._purge_if_due(now)
        return decision

    async def take_all(self, wanted: Sequence[tuple[str, Policy]], now: float) -> list[Decision]:
        # Callers list their buckets in one fixed order (e.g. narrowest first), so two of these transactions never
        # wait on each other's rows in opposite orders.
        async with self.engine.begin() as connection:
            decisions = [await self._take_in(connection, key, policy, now) for key, policy in wanted]
        await self._purge_if_due(now)
        return decisions

    async def _purge_if_due(self, now: float) -> None:
        if self._families and now >= self._next_purge:
            self._next_purge = now + PURGE_SECONDS
            await self.purge(now)

    async def purge(self, now: float) -> int:
        """Delete the rows whose bucket is full at ``now`` (a missing row is a full bucket); how many went. A take
        racing with it is safe: PostgreSQL re-checks a row a concurrent take changed before deleting it, and a take
        after the delete starts from a full bucket, which is what the row held."""
        params: dict[str, float | str] = {"now": now, "settled": now - self._settle}
        for i, (prefix, policy) in enumerate(self._families):
            params.update({f"p{i}": _escape_like(prefix) + "%", f"r{i}": policy.rate, f"c{i}": float(policy.capacity)})
        async with self.engine.begin() as connection:
            result = await connection.execute(self._purge, params)
        return int(result.rowcount)

    async def _take_in(self, connection: AsyncConnection, key: str, policy: Policy, now: float) -> Decision:
        params = {"key": key, "capacity": float(policy.capacity), "now": now, "rate": policy.rate}
        row = (await connection.execute(self._take, params)).first()
        if row is not None:
            return _decide(policy, float(row[0]), float(row[0]) + 1)
        current = (await connection.execute(_PEEK_SQL, {"key": key})).first()
        tokens = refilled(policy, float(current[0]), float(current[1]), now) if current else 0.0
        return _decide(policy, None, tokens)

    async def peek(self, key: str, policy: Policy, now: float) -> float:
        async with self.engine.connect() as connection:
            current = (await connection.execute(_PEEK_SQL, {"key": key})).first()
        if current is None:
            return float(policy.capacity)
        return refilled(policy, float(current[0]), float(current[1]), now)

    async def drain(self, key: str, policy: Policy, now: float) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(_DRAIN_SQL, {"key": key, "now": now})
        await self._purge_if_due(now)

    async def below_one(self, prefixes: Sequence[str]) -> list[tuple[str, float, float]]:
        """``(key, tokens, updated_at)`` of every bucket whose key starts with one of ``prefixes`` and that held
        under one token when last written. Rows only: whether a bucket is still empty depends on its policy, which
        the caller knows. A full scan of the table, meant for rare resynchronisations."""
        if not prefixes:
            return []
        matches = " OR ".join(f"key LIKE :p{i} ESCAPE '!'" for i in range(len(prefixes)))
        params = {f"p{i}": _escape_like(prefix) + "%" for i, prefix in enumerate(prefixes)}
        async with self.engine.connect() as connection:
            rows = (await connection.execute(text(_BELOW_ONE_SQL.format(matches=matches)), params)).all()
        return [(str(key), float(tokens), float(updated)) for key, tokens, updated in rows]


def _escape_like(value: str) -> str:
    return value.replace("!", "!!").replace("%", "!%").replace("_", "!_")
