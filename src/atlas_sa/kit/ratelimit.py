"""Token-bucket rate limits, as Atlas applies them: per credential and scope, with capacity and a refill rate.

Two stores with one interface: :class:`MemoryBuckets` for a single process (the SQLite deployment), and
:class:`SqlBuckets`, where one atomic statement per request refills and takes a token in the
``rate_limit_buckets`` table, so every instance sharing a PostgreSQL shares the buckets. The SQL store consumes in
its own short transaction: a request that later fails still spent its token, as it does at Atlas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


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


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def _decide(policy: Policy, tokens_after: float | None, tokens_now: float) -> Decision:
    if tokens_after is not None:
        return Decision(True, policy.capacity, max(0, math.floor(tokens_after)), 0)
    wait = math.ceil((1 - tokens_now) / policy.rate) if policy.rate > 0 else policy.period
    return Decision(False, policy.capacity, 0, max(1, wait))


class BucketStore(Protocol):
    async def take(self, key: str, policy: Policy, now: float) -> Decision: ...

    async def peek(self, key: str, policy: Policy, now: float) -> float: ...


class MemoryBuckets:
    """Buckets of one process. Safe without locks: the event loop runs one coroutine at a time and ``take``
    does not await between reading and writing a bucket."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max_keys = max_keys

    def _refilled(self, key: str, policy: Policy, now: float) -> float:
        tokens, updated = self._buckets.get(key, (float(policy.capacity), now))
        return min(float(policy.capacity), tokens + max(0.0, now - updated) * policy.rate)

    async def take(self, key: str, policy: Policy, now: float) -> Decision:
        tokens = self._refilled(key, policy, now)
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            # A flood of distinct keys must not grow memory without bound: forget the oldest half.
            for stale in list(self._buckets)[: self._max_keys // 2]:
                del self._buckets[stale]
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return _decide(policy, tokens - 1, tokens)
        self._buckets[key] = (tokens, now)
        return _decide(policy, None, tokens)

    async def peek(self, key: str, policy: Policy, now: float) -> float:
        return self._refilled(key, policy, now)


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


class SqlBuckets:
    """Buckets in the database, shared by every instance that uses it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # SQLite spells LEAST/GREATEST as the two-argument MIN/MAX.
        least, greatest = ("MIN", "MAX") if engine.dialect.name == "sqlite" else ("LEAST", "GREATEST")
        self._take = text(str(_TAKE_SQL).replace("MIN_FN", least).replace("MAX_FN", greatest))

    async def take(self, key: str, policy: Policy, now: float) -> Decision:
        params = {"key": key, "capacity": float(policy.capacity), "now": now, "rate": policy.rate}
        async with self.engine.begin() as connection:
            row = (await connection.execute(self._take, params)).first()
            if row is not None:
                return _decide(policy, float(row[0]), float(row[0]) + 1)
            current = (await connection.execute(_PEEK_SQL, {"key": key})).first()
        tokens = float(current[0]) + max(0.0, now - float(current[1])) * policy.rate if current else 0.0
        return _decide(policy, None, min(float(policy.capacity), tokens))

    async def peek(self, key: str, policy: Policy, now: float) -> float:
        async with self.engine.connect() as connection:
            current = (await connection.execute(_PEEK_SQL, {"key": key})).first()
        if current is None:
            return float(policy.capacity)
        return min(float(policy.capacity), float(current[0]) + max(0.0, now - float(current[1])) * policy.rate)
