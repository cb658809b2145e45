"""All SQL about programmatic API keys."""

from __future__ import annotations

from sqlalchemy import select
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
