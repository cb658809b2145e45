"""All SQL about service-account access lists."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.changes import account_key, naming
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import AccessListEntry


class AccessListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all_of(self, account_id: str) -> Sequence[AccessListEntry]:
        statement = select(AccessListEntry).where(AccessListEntry.service_account_id == account_id)
        return (await self.session.execute(statement)).scalars().all()

    async def page(self, account_id: str, page: PageRequest) -> tuple[Sequence[AccessListEntry], int]:
        statement = select(AccessListEntry).where(AccessListEntry.service_account_id == account_id)
        total = (await self.session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one()
        # Oldest first; entries added together are ordered by their address text so pages are stable.
        ordered = (
            statement.order_by(AccessListEntry.created_at, AccessListEntry.cidr_block)
            .offset(page.offset)
            .limit(page.limit)
        )
        return (await self.session.execute(ordered)).scalars().all(), total

    async def add_all(self, entries: Sequence[AccessListEntry]) -> None:
        self.session.add_all(entries)
        await self.session.flush()

    async def delete(self, entry: AccessListEntry) -> None:
        await self.session.execute(
            delete(AccessListEntry)
            .where(
                AccessListEntry.service_account_id == entry.service_account_id,
                AccessListEntry.cidr_block == entry.cidr_block,
            )
            .execution_options(**naming(account_key(entry.service_account_id)))
        )
        await self.session.flush()
