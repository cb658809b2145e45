"""All SQL about programmatic API keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.models import ApiKey


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, api_key: ApiKey) -> None:
        self.session.add(api_key)
        await self.session.flush()

    async def get_by_public_key(self, public_key: str) -> ApiKey | None:
        statement = select(ApiKey).where(ApiKey.public_key == public_key)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get(self, api_key_id: str) -> ApiKey | None:
        return await self.session.get(ApiKey, api_key_id)

    async def all_of(self, org_id: str | None) -> Sequence[ApiKey]:
        """An organization's keys (every organization's for ``None``), oldest first."""
        statement = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if org_id is not None:
            statement = statement.where(ApiKey.org_id == org_id)
        return (await self.session.execute(statement)).scalars().all()

    async def delete(self, api_key: ApiKey) -> None:
        await self.session.execute(delete(ApiKey).where(ApiKey.id == api_key.id))
        await self.session.flush()
