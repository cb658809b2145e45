"""Direct looks at the database, for asserting that a refused request changed nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from atlas_sa.kit.db import Database
from atlas_sa.models import Base


async def count(db: Database, model: type[Base]) -> int:
    async with db.unit_of_work(write=False) as session:
        total: int = (await session.execute(select(func.count()).select_from(model))).scalar_one()
        return total
