"""What authentication caches between requests, and how every change that could make a cached answer wrong removes
it: on this instance before the changing request is answered, on every other instance within a second.

Three caches, one per process (per app), in :class:`AuthCaches`:

- **principals**, by bearer token string: the verified token (signature, issuer, audience, claims were checked when
  it was cached, so a cached token is never verified twice) with the account's roles and its access-list rules.
  A hit still checks ``iat``/``exp`` and the signing key's retirement against the clock on every request.
- **clients**, by client id: the account's ids and its secrets' hashes and expiry, for the token endpoint, filled
  by successful authentications only; a secret it does not match is checked against the database, so a known id
  fails no faster than an unknown one (:func:`atlas_sa.auth.minting.authenticate_cached`).
- **views**, by (organization id, client id, resource version): the exact response (headers and body) of
  ``getOrgServiceAccount`` for that account, which the read fast path (:mod:`atlas_sa.service_accounts.fastpath`)
  serves to any caller it has authenticated and authorized. The body depends on nothing but the account's rows, so
  dropping it with the account's principals (any change to the account, its secrets, assignments or access list, its
  organization) keeps it exact; the one change those keys miss, a secret's ``lastUsedAt`` written by the mint
  batcher, stages ``v:<account id>``, which drops the view alone.

Invalidation does not depend on each service remembering to call it. SQLAlchemy session hooks see every change
made through a session of this process: objects added, changed or deleted at flush (a service account, its
secrets, project assignments or access-list entries → that account; an access token → that token; an
organization → its accounts' principals), and any bulk ``UPDATE``/``DELETE`` on those tables → everything (rare
administrative writes; the hot paths' own bulk writes name their keys instead, see :func:`exempt`). At commit, the
keys are published with ``pg_notify`` in the same transaction on PostgreSQL (other instances apply them when the
notification arrives, i.e. only after the commit), and dropped from this process's caches right after the commit.

A reader that misses fills the cache only if nothing was invalidated while it read (``epoch`` unchanged): otherwise
it could store a row read before a change whose invalidation has already run.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from atlas_sa.auth.signing import VerificationKey
from atlas_sa.identity.principal import Principal
from atlas_sa.kit.events import CHANNEL
from atlas_sa.kit.metrics import CACHE_HITS, CACHE_MISSES
from atlas_sa.kit.state import AppState
from atlas_sa.models import (
    AccessListEntry,
    AccessToken,
    Organization,
    Project,
    ProjectAssignment,
    ServiceAccount,
    ServiceAccountSecret,
)
from atlas_sa.service_accounts.fastpath import CachedView, ViewId

TOPIC = "auth"
EVERYTHING = "*"
# An execution option for the hot paths' own bulk writes, which name their invalidation keys themselves.
EXEMPT = "atlas_sa_auth_exempt"
_PENDING = "atlas_sa.auth.pending"
# Any instance, this one included, applies notifications with this origin (applying twice is harmless).
_ORIGIN = "-"
_NOTIFY_BYTES = 7000  # PostgreSQL's payload limit is 8000 bytes
_WATCHED_TABLES = frozenset(
    {
        ServiceAccount.__tablename__,
        ServiceAccountSecret.__tablename__,
        ProjectAssignment.__tablename__,
        AccessListEntry.__tablename__,
        AccessToken.__tablename__,
        Organization.__tablename__,
        Project.__tablename__,
    }
)
MAX_ENTRIES = 20_000
# Hits and misses of each lookup, for the metrics (precreated children: a lookup is on every hot request).
_PRINCIPAL_HIT, _PRINCIPAL_MISS = CACHE_HITS["principal"], CACHE_MISSES["principal"]
_CLIENT_HIT, _CLIENT_MISS = CACHE_HITS["client"], CACHE_MISSES["client"]
_VIEW_HIT, _VIEW_MISS = CACHE_HITS["view"], CACHE_MISSES["view"]


def account_key(account_id: str) -> str:
    return f"a:{account_id}"


def token_key(jti: str) -> str:
    return f"t:{jti}"


def view_key(account_id: str) -> str:
    return f"v:{account_id}"


@dataclass(frozen=True, slots=True)
class AccessRules:
    """A service account's access list (CIDR blocks) and, for an empty one, its organization's requirement."""

    blocks: tuple[str, ...]
    org_requires_list: bool


@dataclass(frozen=True, slots=True)
class CachedPrincipal:
    principal: Principal  # without ``client_ip``: that is the request's
    jti: str
    iat: int
    exp: int
    row_expires_at: datetime
    key: VerificationKey
    access: AccessRules

    def valid_at(self, now: datetime) -> bool:
        seconds = int(now.timestamp())
        return self.iat <= seconds < self.exp and now < self.row_expires_at and self.key.verifies_at(now)


@dataclass(frozen=True, slots=True)
class CachedSecret:
    id: str
    secret_hash: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CachedClient:
    account_id: str
    client_id: str
    org_id: str
    secrets: tuple[CachedSecret, ...]


class AuthCaches:
    def __init__(self) -> None:
        self.epoch = 0
        self._principals: dict[str, CachedPrincipal] = {}
        self._by_account: dict[str, set[str]] = {}
        self._by_org: dict[str, set[str]] = {}
        # Every cached string of a jti: one string per token is what ``tokens.canonical`` allows, but the token's
        # end must not depend on it (the signing key can sign the same claims twice, each signature canonical).
        self._by_jti: dict[str, set[str]] = {}
        self._clients: dict[str, CachedClient] = {}
        self._client_by_account: dict[str, str] = {}
        self._views: dict[ViewId, CachedView] = {}
        self._views_by_account: dict[str, set[ViewId]] = {}
        self._views_by_org: dict[str, set[ViewId]] = {}

    # --- principals ------------------------------------------------------------------------------------------

    def principal(self, token: str) -> CachedPrincipal | None:
        found = self._principals.get(token)
        (_PRINCIPAL_MISS if found is None else _PRINCIPAL_HIT).inc()
        return found

    def put_principal(self, token: str, entry: CachedPrincipal, epoch: int) -> None:
        if epoch != self.epoch:
            return
        if len(self._principals) >= MAX_ENTRIES:
            self._drop_token(next(iter(self._principals)))
        self._principals[token] = entry
        account_id = entry.principal.account_id or ""
        self._by_account.setdefault(account_id, set()).add(token)
        self._by_org.setdefault(entry.principal.org_id or "", set()).add(token)
        self._by_jti.setdefault(entry.jti, set()).add(token)

    def _drop_token(self, token: str) -> None:
        entry = self._principals.pop(token, None)
        if entry is None:
            return
        for index, key in (
            (self._by_jti, entry.jti),
            (self._by_account, entry.principal.account_id or ""),
            (self._by_org, entry.principal.org_id or ""),
        ):
            tokens = index.get(key)
            if tokens is not None:
                tokens.discard(token)
                if not tokens:
                    del index[key]

    # --- clients ---------------------------------------------------------------------------------------------

    def client(self, client_id: str) -> CachedClient | None:
        found = self._clients.get(client_id)
        (_CLIENT_MISS if found is None else _CLIENT_HIT).inc()
        return found

    def put_client(self, client_id: str, entry: CachedClient, epoch: int) -> None:
        if epoch != self.epoch:
            return
        if len(self._clients) >= MAX_ENTRIES and client_id not in self._clients:
            self._drop_client(next(iter(self._clients)))
        self._clients[client_id] = entry
        self._client_by_account[entry.account_id] = client_id

    def _drop_client(self, client_id: str) -> None:
        entry = self._clients.pop(client_id, None)
        if entry is not None:
            self._client_by_account.pop(entry.account_id, None)

    # --- views -----------------------------------------------------------------------------------------------

    def view(self, view_id: ViewId) -> CachedView | None:
        found = self._views.get(view_id)
        (_VIEW_MISS if found is None else _VIEW_HIT).inc()
        return found

    def put_view(self, view_id: ViewId, entry: CachedView, epoch: int) -> None:
        if epoch != self.epoch:
            return
        if len(self._views) >= MAX_ENTRIES:
            self._drop_view(next(iter(self._views)))
        self._views[view_id] = entry
        self._views_by_account.setdefault(entry.account_id, set()).add(view_id)
        self._views_by_org.setdefault(entry.org_id, set()).add(view_id)

    def _drop_view(self, view_id: ViewId) -> None:
        entry = self._views.pop(view_id, None)
        if entry is None:
            return
        for index, key in ((self._views_by_account, entry.account_id), (self._views_by_org, entry.org_id)):
            ids = index.get(key)
            if ids is not None:
                ids.discard(view_id)
                if not ids:
                    del index[key]

    def _drop_views(self, index: dict[str, set[ViewId]], key: str) -> None:
        for view_id in list(index.get(key, ())):
            self._drop_view(view_id)

    # --- invalidation ----------------------------------------------------------------------------------------

    def invalidate(self, keys: Iterable[str]) -> None:
        self.epoch += 1
        for key in keys:
            kind, _, value = key.partition(":")
            if key == EVERYTHING:
                self.clear()
                return
            if kind == "a":
                for token in list(self._by_account.get(value, ())):
                    self._drop_token(token)
                client_id = self._client_by_account.get(value)
                if client_id is not None:
                    self._drop_client(client_id)
                self._drop_views(self._views_by_account, value)
            elif kind == "v":
                self._drop_views(self._views_by_account, value)
            elif kind == "c":
                self._drop_client(value)
            elif kind == "o":
                for token in list(self._by_org.get(value, ())):
                    self._drop_token(token)
                self._drop_views(self._views_by_org, value)
            elif kind == "t":
                for token in list(self._by_jti.get(value, ())):
                    self._drop_token(token)

    def clear(self) -> None:
        self.epoch += 1
        self._principals.clear()
        self._by_account.clear()
        self._by_org.clear()
        self._by_jti.clear()
        self._clients.clear()
        self._client_by_account.clear()
        self._views.clear()
        self._views_by_account.clear()
        self._views_by_org.clear()

    def on_bus(self, payload: str) -> None:
        self.invalidate(payload.split(","))


# The caches of the apps using each connection pool, so the session hooks find what to invalidate locally.
# Every app of this process on a pool (tests and benchmarks run a routed and a fast app on one database): a commit
# through one drops the entries of all, as the bus does across processes.
_LOCAL: weakref.WeakKeyDictionary[Any, weakref.WeakSet[AuthCaches]] = weakref.WeakKeyDictionary()
_EXTRAS_KEY = "auth.caches"


def auth_caches(state: AppState) -> AuthCaches:
    """The app's caches, made on first use; they then follow every commit on the app's database and, through the
    invalidation bus, every commit of other instances."""
    caches = state.extras.get(_EXTRAS_KEY)
    if caches is None:
        caches = state.extras[_EXTRAS_KEY] = AuthCaches()
        _LOCAL.setdefault(state.db.engine.sync_engine.pool, weakref.WeakSet()).add(caches)
        state.bus.subscribe(TOPIC, caches.on_bus)
    assert isinstance(caches, AuthCaches)
    return caches


def stage_keys(session: Session, keys: Iterable[str]) -> None:
    """Invalidate ``keys`` when ``session`` commits (for bulk writes made with :data:`EXEMPT`)."""
    session.info.setdefault(_PENDING, set()).update(keys)


def _object_keys(obj: object) -> list[str]:
    match obj:
        case ServiceAccount():
            return [account_key(obj.id), f"c:{obj.client_id}"]
        case ServiceAccountSecret() | ProjectAssignment() | AccessListEntry():
            return [account_key(obj.service_account_id)]
        case AccessToken():
            return [token_key(obj.jti)]
        case Organization():
            return [f"o:{obj.id}"]
        case Project():
            return [EVERYTHING]
    return []


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    keys = [key for obj in chain(session.new, session.dirty, session.deleted) for key in _object_keys(obj)]
    if keys:
        stage_keys(session, keys)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get(EXEMPT):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        stage_keys(state.session, [EVERYTHING])


def _payloads(keys: set[str]) -> list[str]:
    if EVERYTHING in keys:
        return [f"{_ORIGIN}|{TOPIC}|{EVERYTHING}"]
    payloads: list[str] = []
    batch: list[str] = []
    size = 0
    for key in sorted(keys):
        if batch and size + len(key) + 1 > _NOTIFY_BYTES:
            payloads.append(f"{_ORIGIN}|{TOPIC}|{','.join(batch)}")
            batch, size = [], 0
        batch.append(key)
        size += len(key) + 1
    if batch:
        payloads.append(f"{_ORIGIN}|{TOPIC}|{','.join(batch)}")
    return payloads


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if not session.info.get(_PENDING) and not (session.new or session.dirty or session.deleted):
        return
    # The commit flushes after this hook; flush first so that every change's keys are known before publishing.
    session.flush()
    keys: set[str] = session.info.get(_PENDING, set())
    if not keys or session.get_bind().dialect.name != "postgresql":
        return
    # Delivered by PostgreSQL at commit and only if it commits: no instance drops a cache entry early and
    # re-reads the old row.
    for payload in _payloads(keys):
        session.execute(select(func.pg_notify(CHANNEL, payload)))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    keys: set[str] | None = session.info.pop(_PENDING, None)
    if not keys:
        return
    bind = session.get_bind()
    for caches in _LOCAL.get(bind.pool if isinstance(bind, Engine) else bind.engine.pool, ()):
        caches.invalidate(keys)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
