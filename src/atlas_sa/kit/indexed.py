"""The store under every cache that follows the database's changes (:mod:`atlas_sa.changes`): the authentication's
principals and clients (:mod:`atlas_sa.auth.cache`) and the read fast path's views
(:mod:`atlas_sa.service_accounts.views`).

:class:`FollowingCache` is the rule every such cache keeps: a reader that misses fills it only if nothing was
invalidated while it read (``epoch`` unchanged), otherwise it could store a row read before a change whose
invalidation has already run; every invalidation, and clearing, moves ``epoch`` on.

:class:`IndexedEntries` holds the entries: by key, at most ``limit`` of them (past it, the oldest goes first),
each also filed under what it belongs to (its account, its organization, its token's jti: one value per index, from
``owners``), so that a change naming an account or an organization drops exactly that one's entries. One cache's
epoch may cover several stores (the principals and the clients).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from atlas_sa.kit.events import ALL
from atlas_sa.kit.metrics import CACHE_HITS, CACHE_MISSES

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class IndexedEntries(Generic[K, V]):
    __slots__ = ("_entries", "_hit", "_indexes", "_limit", "_miss", "_owners")

    def __init__(self, cache: str, owners: Callable[[V], tuple[str, ...]], indexes: int, limit: int) -> None:
        # Hits and misses counted per cache, precreated children: a lookup is on every hot request.
        self._hit, self._miss = CACHE_HITS[cache], CACHE_MISSES[cache]
        self._owners = owners
        self._limit = limit
        self._entries: dict[K, V] = {}
        self._indexes: tuple[dict[str, set[K]], ...] = tuple({} for _ in range(indexes))

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        (self._miss if found is None else self._hit).inc()
        return found

    def put(self, key: K, entry: V) -> None:
        # A replaced entry is dropped first, so that it leaves no index filing that is no longer its own.
        self.drop(key)
        if len(self._entries) >= self._limit:
            self.drop(next(iter(self._entries)))
        self._entries[key] = entry
        for index, owner in zip(self._indexes, self._owners(entry), strict=True):
            index.setdefault(owner, set()).add(key)

    def drop(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for index, owner in zip(self._indexes, self._owners(entry), strict=True):
            keys = index.get(owner)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[owner]

    def drop_owned(self, index: int, owner: str) -> None:
        """Every entry filed under ``owner`` in index number ``index`` (the position in ``owners``' tuple)."""
        for key in list(self._indexes[index].get(owner, ())):
            self.drop(key)

    def clear(self) -> None:
        self._entries.clear()
        for index in self._indexes:
            index.clear()


class FollowingCache(ABC):
    """:class:`atlas_sa.changes.Follower` by key kind: a subclass drops what one ``kind:value`` key names."""

    def __init__(self) -> None:
        self.epoch = 0

    def invalidate(self, keys: Iterable[str]) -> None:
        self.epoch += 1
        for key in keys:
            if key == ALL:
                self.clear()
                return
            kind, _, value = key.partition(":")
            self.drop_named(kind, value)

    def clear(self) -> None:
        self.epoch += 1
        self.drop_all()

    @abstractmethod
    def drop_named(self, kind: str, value: str) -> None: ...

    @abstractmethod
    def drop_all(self) -> None: ...
