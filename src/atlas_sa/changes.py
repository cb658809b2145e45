"""What a commit changed, named so that every cache holding it drops exactly that: on this instance right after the
commit, and on every other instance sharing the PostgreSQL when the commit's notification arrives.

A change is named by keys (:func:`account_key` and its siblings); the caches that follow changes
(:class:`~atlas_sa.auth.cache.AuthCaches`, :class:`~atlas_sa.service_accounts.views.ViewCache`) read them, and so
do the brute-force lockouts (:class:`~atlas_sa.auth.lockouts.Lockouts`), which the instances sharing a PostgreSQL
tell each other as changes too (:func:`lockout_key`). This module is the one way a change reaches other processes:
:func:`stage` (or the hooks below) in a unit of work, published at its commit.

Naming does not depend on each service remembering to call it. SQLAlchemy session hooks see every change made
through a session of this process:

- objects added, changed or deleted at flush: a service account → its account and client-id keys; its secrets,
  project assignments or access-list entries → its account; an access token → that token; an organization → its
  organization;
- a bulk ``UPDATE``/``DELETE`` on one of those tables names its keys with :func:`naming` (the statement's own
  ``WHERE`` is by one account, one token…, or it returns its rows' accounts and stages them with :func:`stage`).
  One that names none invalidates everything, on every instance: only an administrative write may do that, never
  a routine one (``tests/auth/test_targeted_invalidation.py`` holds every routine write to its keys).

At commit the keys are published in the same transaction, so that other processes apply them only after the commit
(none re-reads the old row) and not at all after a rollback: with ``pg_notify`` on PostgreSQL, delivered to every
listening instance; on SQLite, where nothing reaches another process, as a row of the change log
(:class:`~atlas_sa.models.ChangeLogEntry`) that the serving process polls. They are dropped from this process's
caches right after the commit.

The token path's own writes are published on PostgreSQL only (``stage(…, hot=True)``): on SQLite one process serves,
and it has dropped them itself; no token request appends to the log.

Projects are not named: nothing caches a project. Deleting one removes its assignments, and the repository's delete
names the accounts it returns.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from itertools import chain
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, delete, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from atlas_sa.kit.events import ALL, CHANNEL, InvalidationBus, origin
from atlas_sa.models import (
    AccessListEntry,
    AccessToken,
    ChangeLogEntry,
    Organization,
    ProjectAssignment,
    ServiceAccount,
    ServiceAccountSecret,
)

EVERYTHING = ALL
TOPIC = "changes"
# The execution option by which a bulk statement names its keys (see :func:`naming`).
_NAMED = "atlas_sa_changes"
_PENDING = "atlas_sa.changes.pending"
_HOT = "atlas_sa.changes.hot"
# Any instance, this one included, applies notifications with this origin (applying twice is harmless).
_ORIGIN = "-"
_NOTIFY_BYTES = 7000  # PostgreSQL's payload limit is 8000 bytes
# The change log keeps its newest entries only: a server polls it several times a second, and one that fell further
# behind finds the gap and drops everything (kit/events.py). It is pruned by the commit whose entry's id is a multiple
# of LOG_PRUNE_EVERY (ids are given one by one in commit order, whichever process commits), of every entry more than
# LOG_KEEP older: one DELETE every hundred logged commits rather than one per commit, and the log holds between
# LOG_KEEP and LOG_KEEP + LOG_PRUNE_EVERY entries.
LOG_KEEP = 1000
LOG_PRUNE_EVERY = 100
_LOG = ChangeLogEntry.metadata.tables[ChangeLogEntry.__tablename__]
_APPEND = insert(_LOG)
_PRUNE = delete(_LOG).where(_LOG.c.id <= bindparam("last"))
_WATCHED_TABLES = frozenset(
    model.__tablename__
    for model in (
        ServiceAccount,
        ServiceAccountSecret,
        ProjectAssignment,
        AccessListEntry,
        AccessToken,
        Organization,
    )
)


def account_key(account_id: str) -> str:
    """Anything of the account: its row, secrets, project assignments, access list (and so its tokens' roles)."""
    return f"a:{account_id}"


def client_key(client_id: str) -> str:
    return f"c:{client_id}"


def org_key(org_id: str) -> str:
    return f"o:{org_id}"


def token_key(jti: str) -> str:
    return f"t:{jti}"


# A lockout's kind of key (:func:`lockout_key`).
LOCKOUT = "l:"


def lockout_key(lockout: str) -> str:
    """A brute-force failure bucket emptied, in its wire form (:meth:`atlas_sa.auth.lockouts.Lockout.encode`: the
    bucket's key, level, time and refill rate). Unlike the others this key carries what changed, not only its name:
    each instance's memory of the lockouts (``auth/lockouts.py``) learns it from the key rather than reading the
    bucket's row again."""
    return LOCKOUT + lockout


def view_key(account_id: str) -> str:
    """Only what the account's ``getOrgServiceAccount`` answer shows that nothing else holds (a secret's
    ``lastUsedAt``, written by the mint batch)."""
    return f"v:{account_id}"


class Follower(Protocol):
    def invalidate(self, keys: Iterable[str]) -> None:
        """Drop whatever depends on ``keys`` (:data:`EVERYTHING`: all); a kind of key it holds nothing of, it
        ignores."""


# The followers of each connection pool, so the session hooks find what to invalidate locally. Every app of this
# process on a pool (tests and benchmarks run a routed and a fast app on one database): a commit through one drops
# the entries of all, as the bus does across processes.
_LOCAL: weakref.WeakKeyDictionary[Any, weakref.WeakSet[Any]] = weakref.WeakKeyDictionary()


def follow(bus: InvalidationBus, follower: Follower) -> None:
    """``follower`` sees every commit on the bus's database: this process's at once, other instances' through the
    bus."""
    _LOCAL.setdefault(bus.db.engine.sync_engine.pool, weakref.WeakSet()).add(follower)
    bus.subscribe(TOPIC, lambda payload: follower.invalidate(payload.split(",")))


def naming(*keys: str) -> dict[str, Any]:
    """Execution options for a bulk ``UPDATE``/``DELETE`` on a watched table that changes exactly ``keys``' rows
    (none: it changes nothing any cache holds, or its caller stages what it returned)."""
    return {_NAMED: frozenset(keys)}


def stage(session: Session | AsyncSession, keys: Iterable[str], *, hot: bool = False) -> None:
    """Invalidate ``keys`` when ``session`` commits. ``hot``: a write of the token path, not logged on SQLite."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(_HOT if hot else _PENDING, set()).update(keys)


def _object_keys(obj: object) -> list[str]:
    match obj:
        case ServiceAccount():
            return [account_key(obj.id), client_key(obj.client_id)]
        case ServiceAccountSecret() | ProjectAssignment() | AccessListEntry():
            return [account_key(obj.service_account_id)]
        case AccessToken():
            return [token_key(obj.jti)]
        case Organization():
            return [org_key(obj.id)]
    return []


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    keys = [key for obj in chain(session.new, session.dirty, session.deleted) for key in _object_keys(obj)]
    if keys:
        stage(session, keys)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) not in _WATCHED_TABLES:
        return
    named: frozenset[str] | None = state.execution_options.get(_NAMED)
    stage(state.session, [EVERYTHING] if named is None else named)


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


def _pool(session: Session) -> Any:
    bind = session.get_bind()
    return bind.pool if isinstance(bind, Engine) else bind.engine.pool


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    info = session.info
    if not info.get(_PENDING) and not info.get(_HOT) and not (session.new or session.dirty or session.deleted):
        return
    # The commit flushes after this hook; flush first so that every change's keys are known before publishing.
    session.flush()
    logged: set[str] = info.get(_PENDING, set())
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        if logged:
            # In the commit's own transaction, like the notification: a rollback leaves no entry.
            keys = EVERYTHING if EVERYTHING in logged else ",".join(sorted(logged))
            # On the session's connection: no ORM statement, nothing for the session's hooks to look at.
            connection = session.connection()
            row = {"origin": origin(_pool(session)), "topic": TOPIC, "keys": keys}
            entry_id = connection.execute(_APPEND, row).lastrowid
            if entry_id % LOG_PRUNE_EVERY == 0:
                connection.execute(_PRUNE, {"last": entry_id - LOG_KEEP})
        return
    published = logged | info.get(_HOT, set())
    if not published or dialect != "postgresql":
        return
    # Delivered by PostgreSQL at commit and only if it commits: no instance drops a cache entry early and
    # re-reads the old row.
    for payload in _payloads(published):
        session.execute(select(func.pg_notify(CHANNEL, payload)))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    keys: set[str] | None = session.info.pop(_PENDING, None)
    hot: set[str] | None = session.info.pop(_HOT, None)
    if hot:
        keys = keys | hot if keys else hot
    if not keys:
        return
    for follower in list(_LOCAL.get(_pool(session), ())):
        follower.invalidate(keys)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_HOT, None)
