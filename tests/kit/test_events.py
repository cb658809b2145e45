"""Invalidation: after commit only, never on rollback, and across instances through PostgreSQL within a second."""

from __future__ import annotations

import asyncio

import pytest

from atlas_sa.kit.db import Database
from atlas_sa.kit.events import ALL, InvalidationBus


async def test_local_subscribers_run_after_commit_only(db: Database) -> None:
    bus = InvalidationBus(db)
    seen: list[str] = []
    bus.subscribe("principal", seen.append)
    async with db.unit_of_work() as session:
        await bus.stage(session, "principal", "mdb_sa_id_1")
        assert seen == [], "nothing is invalidated before the commit"
    assert seen == ["mdb_sa_id_1"]


async def test_rollback_invalidates_nothing(db: Database) -> None:
    bus = InvalidationBus(db)
    seen: list[str] = []
    bus.subscribe("principal", seen.append)

    async def failing_change() -> None:
        async with db.unit_of_work() as session:
            await bus.stage(session, "principal", "x")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        await failing_change()
    async with db.unit_of_work():
        pass
    assert seen == []


async def test_across_instances(postgresql_url: str) -> None:
    first, second = Database(postgresql_url), Database(postgresql_url)
    bus_a, bus_b = InvalidationBus(first), InvalidationBus(second)
    received: list[str] = []
    arrived = asyncio.Event()

    def on_change(key: str) -> None:
        received.append(key)
        if key != ALL:
            arrived.set()

    bus_b.subscribe("principal", on_change)
    await bus_b.start()
    try:
        await asyncio.wait_for(bus_b.connected.wait(), 5)
        assert received == [ALL], "a fresh listener starts from empty caches"
        async with first.unit_of_work() as session:
            await bus_a.stage(session, "principal", "mdb_sa_id_2")
        await asyncio.wait_for(arrived.wait(), 1.0)
        assert received == [ALL, "mdb_sa_id_2"]
    finally:
        await bus_b.stop()
        await first.dispose()
        await second.dispose()
