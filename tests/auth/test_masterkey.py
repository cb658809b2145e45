"""The master key's claim on a database, in-process on both backends (the CLI tests cover the rest)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from atlas_sa.auth.masterkey import SealedWithAnotherKey, claim
from atlas_sa.kit.clock import SystemClock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.db import Database
from atlas_sa.models import MasterKeyCheck


async def test_two_keys_claiming_a_fresh_database_at_once(db: Database) -> None:
    # Both may read "no check value yet"; the insert lets only one record its own, and the other is refused.
    keys = [ServerKeys.from_master("first-master-key-0123456789"), ServerKeys.from_master("second-master-key-012345")]

    async def attempt(k: ServerKeys) -> str:
        try:
            async with db.unit_of_work() as session:
                await claim(session, k, SystemClock().now())
        except SealedWithAnotherKey:
            return "refused"
        return k.check_value

    outcomes = await asyncio.gather(*(attempt(k) for k in keys))
    assert outcomes.count("refused") == 1
    [winner] = [o for o in outcomes if o != "refused"]
    async with db.unit_of_work() as session:
        assert (await session.execute(select(MasterKeyCheck.check_value))).scalars().all() == [winner]
        # The winner's key is accepted again (the db fixture empties the table afterwards).
        await claim(session, next(k for k in keys if k.check_value == winner), SystemClock().now())
