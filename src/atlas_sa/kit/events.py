"""Cache invalidation, in this process and across every instance sharing a PostgreSQL.

A service that changes something others may cache calls :meth:`InvalidationBus.stage` inside its unit of work.
Nothing is invalidated before the transaction commits (a reader in between would re-cache the old row): local
subscribers run from SQLAlchemy's ``after_commit`` hook, and on PostgreSQL the same change is announced with
``pg_notify``, which the database delivers to every listening instance only at commit. Each instance runs one
``LISTEN`` connection; when it reconnects after losing it, everything is invalidated, since notifications sent
meanwhile are lost.

Changes to rows are not staged here one by one: :mod:`atlas_sa.changes` names what each commit changed and publishes
it on this channel under its own topic, in one notification per commit; followers of it hear them through this bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from atlas_sa.kit.db import Database

log = logging.getLogger("atlas_sa.events")

CHANNEL = "atlas_sa_invalidate"
ALL = "*"
_STAGED = "atlas_sa.invalidations"

Handler = Callable[[str], None]


class InvalidationBus:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.instance = secrets.token_hex(6)
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

    async def stage(self, session: AsyncSession, topic: str, key: str) -> None:
        """Invalidate ``topic``/``key`` everywhere once ``session`` commits."""
        session.sync_session.info.setdefault(_STAGED, []).append((topic, key))
        session.sync_session.info["atlas_sa.bus"] = self
        if not self.db.is_sqlite:
            await session.execute(select(func.pg_notify(CHANNEL, f"{self.instance}|{topic}|{key}")))

    # --- across instances (PostgreSQL) ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.db.is_sqlite or self._listener is not None:
            return
        self._listener = asyncio.create_task(self._listen_forever(), name="atlas-sa-invalidation-listener")

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

    def _dispatch(self, payload: str) -> None:
        origin, _, rest = payload.partition("|")
        topic, _, key = rest.partition("|")
        if origin != self.instance:
            self.emit_local(topic, key)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    staged: list[tuple[str, str]] = session.info.pop(_STAGED, [])
    bus: Any = session.info.get("atlas_sa.bus")
    for topic, key in staged:
        bus.emit_local(topic, key)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_STAGED, None)
