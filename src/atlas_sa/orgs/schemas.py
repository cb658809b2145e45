"""Atlas organization shapes (resource version 2023-01-01)."""

from __future__ import annotations

from pydantic import Field

from atlas_sa.kit.schemas import Link, ResponseModel
from atlas_sa.models import Organization

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


def org_document(base: str, org: Organization) -> AtlasOrganization:
    """The organization as the API shows it, its link starting at ``base`` (the CLI passes the issuer URL)."""
    return AtlasOrganization.model_validate(
        {
            "id": org.id,
            "isDeleted": False,
            "links": [{"href": f"{base}/api/atlas/v2/orgs/{org.id}", "rel": "self"}],
            "name": org.name,
        }
    )
