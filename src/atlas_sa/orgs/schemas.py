"""Atlas organization shapes (resource version 2023-01-01)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from atlas_sa.kit.schemas import Link, RequestModel, ResponseModel
from atlas_sa.service_accounts.schemas import OrgServiceAccount, OrgServiceAccountRequest

ORG_NAME_PATTERN = r"^[\p{L}\p{N}\-_.(),:&@+' ]{1,64}$"


class CreateOrganizationRequest(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=ORG_NAME_PATTERN)]
    org_owner_id: Annotated[str | None, Field(alias="orgOwnerId", pattern=r"^([a-f0-9]{24})$")] = None
    # The new organization's first credential: without it only the local system (the CLI) can reach the org.
    service_account: Annotated[OrgServiceAccountRequest | None, Field(alias="serviceAccount")] = None


class AtlasOrganization(ResponseModel):
    id: str
    is_deleted: bool = Field(alias="isDeleted")
    links: list[Link]
    name: str


class CreateOrganizationResponse(ResponseModel):
    organization: AtlasOrganization
    org_owner_id: str | None = Field(default=None, alias="orgOwnerId")
    service_account: OrgServiceAccount | None = Field(default=None, alias="serviceAccount")


class PaginatedOrganization(ResponseModel):
    links: list[Link]
    results: list[AtlasOrganization]
    total_count: int | None = Field(default=None, alias="totalCount")
