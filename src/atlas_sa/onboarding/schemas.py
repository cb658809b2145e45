"""createOrganization's shapes (resource version 2023-01-01), which carry a service account."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from atlas_sa.kit.schemas import RequestModel, ResponseModel
from atlas_sa.orgs.schemas import ORG_NAME_PATTERN, AtlasOrganization
from atlas_sa.service_accounts.schemas import OrgServiceAccount, OrgServiceAccountRequest


class CreateOrganizationRequest(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=ORG_NAME_PATTERN)]
    org_owner_id: Annotated[str | None, Field(alias="orgOwnerId", pattern=r"^([a-f0-9]{24})$")] = None
    # The new organization's first credential: without it only the local system (the CLI) can reach the org.
    service_account: Annotated[OrgServiceAccountRequest | None, Field(alias="serviceAccount")] = None


class CreateOrganizationResponse(ResponseModel):
    organization: AtlasOrganization
    org_owner_id: str | None = Field(default=None, alias="orgOwnerId")
    service_account: OrgServiceAccount | None = Field(default=None, alias="serviceAccount")
