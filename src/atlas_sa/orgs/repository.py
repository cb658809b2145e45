"""All SQL about organizations."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import Organization


class OrgRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, org: Organization) -> None:
        self.session.add(org)
        await self.session.flush()

    async def get(self, org_id: str, *, for_update: bool = False) -> Organization | None:
        statement = select(Organization).where(Organization.id == org_id)
        if for_update:
            # Serialises writers that enforce per-org limits (PostgreSQL row lock; SQLite's write lock already
            # serialises every writer, and SQLAlchemy leaves FOR UPDATE out there).
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page(
        self, page: PageRequest, *, name: str | None = None, only_ids: Collection[str] | None = None
    ) -> tuple[Sequence[Organization], int]:
        statement = select(Organization)
        if name:
            statement = statement.where(Organization.name == name)
        if only_ids is not None:
            statement = statement.where(Organization.id.in_(list(only_ids)))
        total = (await self.session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one()
        rows = (
            (await self.session.execute(statement.order_by(Organization.id).offset(page.offset).limit(page.limit)))
            .scalars()
            .all()
        )
        return rows, total
