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

from dataclasses import dataclass

from atlas_sa.kit.indexed import FollowingCache, IndexedEntries

MAX_ENTRIES = 20_000
_BY_ACCOUNT, _BY_ORG = 0, 1

ViewId = tuple[str, str, str]  # (organization id, client id, resource version)


@dataclass(frozen=True, slots=True)
class CachedView:
    account_id: str
    org_id: str
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


def _owners(entry: CachedView) -> tuple[str, str]:
    return entry.account_id, entry.org_id


class ViewCache(FollowingCache):
    def __init__(self) -> None:
        super().__init__()
        self._views = IndexedEntries[ViewId, CachedView]("view", _owners, 2, MAX_ENTRIES)

    def __len__(self) -> int:
        return len(self._views)

    def view(self, view_id: ViewId) -> CachedView | None:
        return self._views.get(view_id)

    def put_view(self, view_id: ViewId, entry: CachedView, epoch: int) -> None:
        if epoch == self.epoch:
            self._views.put(view_id, entry)

    def drop_named(self, kind: str, value: str) -> None:
        """An account's (``a:``) or view's (``v:``) key drops its views, an organization's (``o:``) every view
        in it."""
        if kind in ("a", "v"):
            self._views.drop_owned(_BY_ACCOUNT, value)
        elif kind == "o":
            self._views.drop_owned(_BY_ORG, value)

    def drop_all(self) -> None:
        self._views.clear()
