"""Cache invalidation across every process sharing the database: the receiving side of :mod:`atlas_sa.changes`.

Whatever others may hold in memory (a cached row, a lockout) changes through a unit of work, and
:mod:`atlas_sa.changes`, the one place that stages and publishes changes, names it: after the commit it tells this
process's followers at once, and announces it to other processes in the same transaction, so that nothing is
invalidated before the commit (a reader in between would re-cache the old row) and nothing after a rollback. This
bus hears those announcements and hands them to its subscribers (:meth:`InvalidationBus.subscribe`, by topic).

On PostgreSQL the announcement is a ``pg_notify``, which the database delivers to every listening instance only at
commit. Each instance runs one ``LISTEN`` connection; when it reconnects after losing it, everything is invalidated,
since notifications sent meanwhile are lost.

On a SQLite file nothing can be pushed to another process, so :mod:`atlas_sa.changes` appends each commit's keys to
the ``change_log`` table in the same transaction, and the serving process's bus polls it (:data:`POLL_SECONDS`) on a
connection of its own: ``PRAGMA data_version`` says whether any other connection committed since the last look (a
few microseconds, no lock in WAL mode); only then are the rows past the last one seen read, and those committed
through this process's own pool skipped: the session hooks applied them at commit. The log keeps its newest entries
only; ids are given one by one in commit order and never reused (``AUTOINCREMENT``), so a poller whose next row is
not the one after the last it saw knows that rows it never read were pruned, and drops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
import weakref
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import psycopg

from atlas_sa.kit.db import Database, sqlite_path

log = logging.getLogger("atlas_sa.events")

CHANNEL = "atlas_sa_invalidate"
ALL = "*"

Handler = Callable[[str], None]

# How often a server on SQLite looks for other processes' commits: a change made elsewhere (a revocation by the
# operator's CLI) is refused here within this, plus the time to read it. Measured at rest (docs/performance.md):
# 1.3-2.4 ms of CPU per second more than without it, mostly the loop's five wake-ups (the PRAGMA itself ~5 µs).
POLL_SECONDS = 0.2
_CHANGES_AFTER = "SELECT id, origin, topic, keys FROM change_log WHERE id > ? ORDER BY id"
# The last id given, whether or not its row is still there (so a log pruned or emptied is no different): every
# row past it is still to be read.
_LAST_ID = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0)"
_ORIGINS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def origin(pool: Any) -> str:
    """Who committed a change-log entry: an id per connection pool of this process. A bus on that pool skips the
    entry: the session hooks applied it to the pool's followers at its commit."""
    found = _ORIGINS.get(pool)
    if found is None:
        found = _ORIGINS[pool] = secrets.token_hex(6)
    return found


class InvalidationBus:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._listener: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def subscribe(self, topic: str, handler: Handler) -> None:
        """``handler(key)`` runs for every committed change of ``topic``; ``key`` is ``"*"`` for "everything"."""
        self._handlers[topic].append(handler)

    def emit_local(self, topic: str, key: str) -> None:
        for handler in self._handlers.get(topic, ()):
            handler(key)

    def emit_everything(self) -> None:
        for topic in list(self._handlers):
            self.emit_local(topic, ALL)

    # --- across processes ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._listener is not None:
            return
        if not self.db.is_sqlite:
            self._listener = asyncio.create_task(self._listen_forever(), name="atlas-sa-invalidation-listener")
            return
        path = sqlite_path(self.db.url)
        if path is not None:  # in memory, no other process shares it
            self._listener = asyncio.create_task(self._poll_forever(path), name="atlas-sa-change-log-poller")

    async def stop(self) -> None:
        # A stopped bus hears nothing: whoever trusts it to announce changes must fall back as when it is down.
        self.connected.clear()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    async def _listen_forever(self) -> None:
        url = self.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        delay = 0.2
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    # Whatever changed while we were not listening is unknown: start from empty caches.
                    self.emit_everything()
                    self.connected.set()
                    delay = 0.2
                    async for notify in connection.notifies():
                        self._dispatch(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the listen connection is retried the same way
                self.connected.clear()
                log.warning("invalidation listener lost its connection (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _poll_forever(self, path: str) -> None:
        delay = 0.2
        while True:
            try:
                # The loop's own thread, as the app's SQLite reads: a read in WAL mode waits for no lock, and with
                # no busy timeout a rare SQLITE_BUSY (another connection recovering the WAL) fails at once and is
                # looked at again at the next poll.
                with contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=0)) as connection:
                    await self._poll(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the poll is retried the same way
                self.connected.clear()
                log.warning("change-log poller failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _poll(self, connection: sqlite3.Connection) -> None:
        own = origin(self.db.engine.sync_engine.pool)
        seen = connection.execute("PRAGMA data_version").fetchone()[0]
        last: int = connection.execute(_LAST_ID).fetchone()[0]
        # Whatever changed while no one looked is unknown: start from empty caches.
        self.emit_everything()
        self.connected.set()
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                # Read before the rows: a commit after this read changes it again and is read at the next poll.
                version = connection.execute("PRAGMA data_version").fetchone()[0]
                if version == seen:
                    continue
                rows = connection.execute(_CHANGES_AFTER, (last,)).fetchall()
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
                continue
            seen = version
            if not rows:
                continue  # a commit naming nothing others cache: this process's mints, mostly
            if rows[0][0] != last + 1:
                # Entries past ``last`` were pruned before this read: what they named is unknown.
                self.emit_everything()
            else:
                for _, row_origin, topic, keys in rows:
                    if row_origin != own:
                        self.emit_local(topic, keys)
            last = rows[-1][0]

    def _dispatch(self, payload: str) -> None:
        # ``origin|topic|keys``: every notification is applied, this instance's own too (applying twice is
        # harmless; the origin field is kept so that instances of the previous release still read the payload).
        _origin, _, rest = payload.partition("|")
        topic, _, keys = rest.partition("|")
        self.emit_local(topic, keys)
