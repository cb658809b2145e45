"""Direct looks at the database, for asserting that a refused request changed nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from atlas_sa.kit.db import Database
from atlas_sa.models import Base


async def count(db: Database, model: type[Base]) -> int:
    async with db.unit_of_work(write=False) as session:
        total: int = (await session.execute(select(func.count()).select_from(model))).scalar_one()
        return total


Rows = dict[str, list[tuple[Any, ...]]]


async def snapshot(db: Database, *, skip: tuple[str, ...] = ("rate_limit_buckets",)) -> Rows:
    """Every row of every table (``skip`` aside: the brute-force guard's buckets change on refusals by design)."""
    rows: Rows = {}
    async with db.unit_of_work(write=False) as session:
        for table in Base.metadata.sorted_tables:
            if table.name not in skip:
                rows[table.name] = sorted((tuple(row) for row in await session.execute(select(table))), key=repr)
    return rows
