"""Token-bucket rate limits, as Atlas applies them: per credential and scope, with capacity and a refill rate.

Two stores with one interface: :class:`MemoryBuckets` for a single process (the SQLite deployment), and
:class:`SqlBuckets`, where one atomic statement per request refills and takes a token in the
``rate_limit_buckets`` table, so every instance sharing a PostgreSQL shares the buckets. The SQL store consumes in
its own short transaction: a request that later fails still spent its token, as it does at Atlas.

Besides taking and peeking, a bucket can be emptied outright (:meth:`~BucketStore.drain`: "this happened now",
e.g. a one-token bucket that records the latest success), and the SQL store can list the buckets under one token
(:meth:`SqlBuckets.below_one`), for an instance that must learn which ones are empty after losing track.
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

    async def drain(self, key: str, now: float) -> None:
        """Empty the bucket as of ``now``, whatever it held."""
        ...


class MemoryBuckets:
    """Buckets of one process. Safe without locks: the event loop runs one coroutine at a time and ``take``
    does not await between reading and writing a bucket."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max_keys = max_keys

    def _refilled(self, key: str, policy: Policy, now: float) -> float:
        tokens, updated = self._buckets.get(key, (float(policy.capacity), now))
        return refilled(policy, tokens, updated, now)

    def _store(self, key: str, tokens: float, now: float) -> None:
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            # A flood of distinct keys must not grow memory without bound: forget the oldest half.
            for stale in list(self._buckets)[: self._max_keys // 2]:
                del self._buckets[stale]
        self._buckets[key] = (tokens, now)

    async def take(self, key: str, policy: Policy, now: float) -> Decision:
        tokens = self._refilled(key, policy, now)
        if tokens >= 1:
            self._store(key, tokens - 1, now)
            return _decide(policy, tokens - 1, tokens)
        self._store(key, tokens, now)
        return _decide(policy, None, tokens)

    async def take_all(self, wanted: Sequence[tuple[str, Policy]], now: float) -> list[Decision]:
        return [await self.take(key, policy, now) for key, policy in wanted]

    async def peek(self, key: str, policy: Policy, now: float) -> float:
        return self._refilled(key, policy, now)

    async def drain(self, key: str, now: float) -> None:
        self._store(key, 0.0, now)


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


class SqlBuckets:
    """Buckets in the database, shared by every instance that uses it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # SQLite spells LEAST/GREATEST as the two-argument MIN/MAX.
        least, greatest = ("MIN", "MAX") if engine.dialect.name == "sqlite" else ("LEAST", "GREATEST")
        self._take = text(str(_TAKE_SQL).replace("MIN_FN", least).replace("MAX_FN", greatest))

    async def take(self, key: str, policy: Policy, now: float) -> Decision:
        async with self.engine.begin() as connection:
            return await self._take_in(connection, key, policy, now)

    async def take_all(self, wanted: Sequence[tuple[str, Policy]], now: float) -> list[Decision]:
        # Callers list their buckets in one fixed order (e.g. narrowest first), so two of these transactions never
        # wait on each other's rows in opposite orders.
        async with self.engine.begin() as connection:
            return [await self._take_in(connection, key, policy, now) for key, policy in wanted]

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

    async def drain(self, key: str, now: float) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(_DRAIN_SQL, {"key": key, "now": now})

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
