"""Database.read_rows: one statement on a read connection of its own, outside any session, which it gives back to the
pool as it took it (on PostgreSQL it runs the statement in autocommit mode: a session on the same connection must
still be transactional)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, func, select

from atlas_sa.kit.db import Database
from atlas_sa.kit.ids import new_object_id
from atlas_sa.models import Organization

COUNT = select(func.count()).select_from(Organization).where(Organization.name == bindparam("name"))


class Rollback(Exception):
    pass


@pytest.fixture
async def fresh(database_url: str, db: Database) -> AsyncIterator[Database]:
    """A database object of its own (``db`` empties the tables after): its pools hold only what this test opens."""
    own = Database(database_url, pool_size=1)
    yield own
    await own.dispose()


async def _add_then_fail(db: Database) -> None:
    async with db.unit_of_work() as session:
        session.add(Organization(id=new_object_id(), name="kept out", created_at=datetime.now(UTC)))
        await session.flush()
        raise Rollback


async def test_a_session_after_read_rows_is_still_a_transaction(fresh: Database) -> None:
    assert await fresh.read_rows(COUNT, {"name": "kept out"}) == [(0,)]
    with pytest.raises(Rollback):
        await _add_then_fail(fresh)
    assert await fresh.read_rows(COUNT, {"name": "kept out"}) == [(0,)]
    async with fresh.unit_of_work() as session:
        session.add(Organization(id=new_object_id(), name="kept", created_at=datetime.now(UTC)))
    assert await fresh.read_rows(COUNT, {"name": "kept"}) == [(1,)]
