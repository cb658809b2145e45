"""Atlas organization shapes (resource version 2023-01-01)."""

from __future__ import annotations

from pydantic import Field

from atlas_sa.kit.schemas import Link, ResponseModel

ORG_NAME_PATTERN = r"^[\p{L}\p{N}\-_.(),:&@+' ]{1,64}$"


class AtlasOrganization(ResponseModel):
    id: str
    is_deleted: bool = Field(alias="isDeleted")
    links: list[Link]
    name: str


class PaginatedOrganization(ResponseModel):
    links: list[Link]
    results: list[AtlasOrganization]
    total_count: int | None = Field(default=None, alias="totalCount")
