"""The view cache: the exact response (headers and body) of ``getOrgServiceAccount`` for an account, by
(organization id, client id, resource version), which the read fast path (:mod:`atlas_sa.service_accounts.fastpath`)
serves to any caller the app's authentication admits.

The body depends on nothing but the account's rows, so a view goes with any change to the account, its secrets,
assignments or access list (its account key), or to its organization; the one change those keys miss, a secret's
``lastUsedAt`` written by the mint batch, names the view key alone (:mod:`atlas_sa.changes`). ``create_app`` builds
one cache per app and has it follow the app's database: this instance's commits drop their views right after they
commit, other instances' when their notification arrives.

A reader that misses stores its view only if no invalidation ran since before it read the account (``epoch``
unchanged): otherwise it could store a body read before a change whose invalidation has already run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from atlas_sa.changes import EVERYTHING
from atlas_sa.kit.metrics import CACHE_HITS, CACHE_MISSES

MAX_ENTRIES = 20_000
# Precreated children: a lookup is on every fast read.
_HIT, _MISS = CACHE_HITS["view"], CACHE_MISSES["view"]

ViewId = tuple[str, str, str]  # (organization id, client id, resource version)


@dataclass(frozen=True, slots=True)
class CachedView:
    account_id: str
    org_id: str
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


class ViewCache:
    def __init__(self) -> None:
        self.epoch = 0
        self._views: dict[ViewId, CachedView] = {}
        self._by_account: dict[str, set[ViewId]] = {}
        self._by_org: dict[str, set[ViewId]] = {}

    def __len__(self) -> int:
        return len(self._views)

    def view(self, view_id: ViewId) -> CachedView | None:
        found = self._views.get(view_id)
        (_MISS if found is None else _HIT).inc()
        return found

    def put_view(self, view_id: ViewId, entry: CachedView, epoch: int) -> None:
        if epoch != self.epoch:
            return
        if len(self._views) >= MAX_ENTRIES:
            self._drop(next(iter(self._views)))
        self._views[view_id] = entry
        self._by_account.setdefault(entry.account_id, set()).add(view_id)
        self._by_org.setdefault(entry.org_id, set()).add(view_id)

    def _drop(self, view_id: ViewId) -> None:
        entry = self._views.pop(view_id, None)
        if entry is None:
            return
        for index, key in ((self._by_account, entry.account_id), (self._by_org, entry.org_id)):
            ids = index.get(key)
            if ids is not None:
                ids.discard(view_id)
                if not ids:
                    del index[key]

    def _drop_all(self, index: dict[str, set[ViewId]], key: str) -> None:
        for view_id in list(index.get(key, ())):
            self._drop(view_id)

    def invalidate(self, keys: Iterable[str]) -> None:
        """:class:`atlas_sa.changes.Follower`: an account's (``a:``) or view's (``v:``) key drops its views, an
        organization's (``o:``) every view in it."""
        self.epoch += 1
        for key in keys:
            if key == EVERYTHING:
                self.clear()
                return
            kind, _, value = key.partition(":")
            if kind in ("a", "v"):
                self._drop_all(self._by_account, value)
            elif kind == "o":
                self._drop_all(self._by_org, value)

    def clear(self) -> None:
        self.epoch += 1
        self._views.clear()
        self._by_account.clear()
        self._by_org.clear()
