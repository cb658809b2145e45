"""Invalidation: after commit only, never on rollback, and across processes within a second: through PostgreSQL's
notifications, or SQLite's change log."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, event, insert
from sqlalchemy.orm import Session

from atlas_sa import changes
from atlas_sa.kit.db import Database
from atlas_sa.kit.events import ALL, InvalidationBus, origin
from atlas_sa.migrations import upgrade
from atlas_sa.models import ChangeLogEntry


class Followed:
    """A follower of the changes (:func:`atlas_sa.changes.follow`) that keeps what it was told."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.arrived = asyncio.Event()

    def invalidate(self, keys: Iterable[str]) -> None:
        self.keys.extend(sorted(keys))
        self.arrived.set()


async def test_local_followers_hear_after_commit_only(db: Database) -> None:
    followed = Followed()
    changes.follow(InvalidationBus(db), followed)
    async with db.unit_of_work() as session:
        changes.stage(session, [changes.account_key("1")])
        assert followed.keys == [], "nothing is invalidated before the commit"
    assert followed.keys == ["a:1"]


async def test_rollback_invalidates_nothing(db: Database) -> None:
    followed = Followed()
    changes.follow(InvalidationBus(db), followed)

    async def failing_change() -> None:
        async with db.unit_of_work() as session:
            changes.stage(session, [changes.account_key("x")])
            raise RuntimeError

    with pytest.raises(RuntimeError):
        await failing_change()
    async with db.unit_of_work():
        pass
    assert followed.keys == []


async def test_across_instances(postgresql_url: str) -> None:
    first, second = Database(postgresql_url), Database(postgresql_url)
    bus = InvalidationBus(second)
    followed = Followed()
    changes.follow(bus, followed)
    await bus.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), 5)
        assert followed.keys == [ALL], "a fresh listener starts from empty caches"
        followed.arrived.clear()
        async with first.unit_of_work() as session:
            changes.stage(session, [changes.account_key("2")])
        await asyncio.wait_for(followed.arrived.wait(), 1.0)
        assert followed.keys == [ALL, "a:2"]
    finally:
        await bus.stop()
        await first.dispose()
        await second.dispose()


async def test_a_sqlite_bus_reads_other_connections_entries_in_the_change_log(sqlite_url: str) -> None:
    """On SQLite the bus of the serving process polls the change log: entries committed through another pool (another
    process) are applied within the poll, its own pool's are skipped (the session hooks applied them at commit), and
    entries pruned before it read them make it drop everything."""
    served, other = Database(sqlite_url), Database(sqlite_url)
    bus = InvalidationBus(served)
    received: list[str] = []
    arrived = asyncio.Event()

    def on_change(key: str) -> None:
        received.append(key)
        arrived.set()

    bus.subscribe("principal", on_change)

    async def append(db: Database, *keys: str) -> None:
        async with db.unit_of_work() as session:
            for key in keys:
                await session.execute(
                    insert(ChangeLogEntry).values(
                        origin=origin(db.engine.sync_engine.pool), topic="principal", keys=key
                    )
                )

    async def heard(expected: list[str]) -> None:
        while received != expected:
            await asyncio.wait_for(arrived.wait(), 1.0)
            arrived.clear()

    await bus.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), 5)
        assert received == [ALL], "a fresh poller starts from empty caches"
        await append(served, "mine")
        await append(other, "theirs")
        await heard([ALL, "theirs"])
        # An entry pruned before the poll read it (here, in the transaction that made it): what it said is lost.
        async with other.unit_of_work() as session:
            row = {"origin": origin(other.engine.sync_engine.pool), "topic": "principal", "keys": "lost"}
            lost = (await session.execute(insert(ChangeLogEntry).values(row))).inserted_primary_key
            await session.execute(delete(ChangeLogEntry).where(ChangeLogEntry.id == lost[0]))
        await append(other, "after")
        await heard([ALL, "theirs", ALL])
    finally:
        await bus.stop()
        await served.dispose()
        await other.dispose()


def fall_behind(url: str, names: Iterable[str]) -> None:
    """Commit a change naming each of ``names``, one commit each, through the session hooks of a synchronous pool
    (another process, as far as the poller can tell). Synchronous, so the event loop, and the poller with it, waits
    until the last has committed: a poller fallen behind by that many entries."""
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _fast(connection: Any, _record: Any) -> None:
        # Durability is not what this tests: no fsync at each of these commits.
        connection.execute("PRAGMA synchronous=OFF")

    try:
        with Session(engine) as session:
            for name in names:
                changes.stage(session, [changes.account_key(name)])
                session.commit()
    finally:
        engine.dispose()


async def test_a_poller_behind_hears_every_change_the_log_keeps_and_everything_once_it_lost_some(
    tmp_path: Path,
) -> None:
    """The change log is pruned as it grows (:data:`atlas_sa.changes.LOG_KEEP` entries kept), and a poller that fell
    behind by more than that (its event loop busy) has lost entries: it must drop everything, never apply what is
    left as if it were all, even when the log was empty when it started. Behind by no more than that, it hears each
    change, without dropping everything."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    upgrade(url)
    served = Database(url)
    bus = InvalidationBus(served)
    followed = Followed()
    changes.follow(bus, followed)

    async def heard() -> list[str]:
        await asyncio.wait_for(followed.arrived.wait(), 2.0)
        # One poll reads and delivers every entry past its position at once.
        keys, followed.keys = followed.keys, []
        followed.arrived.clear()
        return keys

    await bus.start()
    try:
        assert await heard() == [ALL], "a fresh poller starts from empty caches (here from an empty log)"
        lost = changes.LOG_KEEP + changes.LOG_PRUNE_EVERY
        fall_behind(url, (f"lost{n}" for n in range(lost)))
        assert await heard() == [ALL], "entries it never read were pruned: what they named is unknown"
        # Now at an id where the log is pruned: behind by exactly what the log keeps, it loses nothing.
        assert lost % changes.LOG_PRUNE_EVERY == 0
        fall_behind(url, (f"kept{n:04}" for n in range(changes.LOG_KEEP)))
        assert await heard() == [f"a:kept{n:04}" for n in range(changes.LOG_KEEP)]
    finally:
        await bus.stop()
        await served.dispose()
