"""createOrganization (``POST /api/atlas/v2/orgs``): an organization and, optionally, its first service account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from atlas_sa.identity.caller import Caller
from atlas_sa.kit.rendering import created
from atlas_sa.kit.routing import atlas_router
from atlas_sa.onboarding.schemas import CreateOrganizationRequest, CreateOrganizationResponse
from atlas_sa.onboarding.service import OnboardingService
from atlas_sa.orgs.endpoints import ORGS_VERSION, org_schema
from atlas_sa.service_accounts.endpoints import Accounts
from atlas_sa.service_accounts.rendering import new_account, org_account_schema
from atlas_sa.service_accounts.schemas import OrgServiceAccount

router = atlas_router(ORGS_VERSION, prefix="/api/atlas/v2", tags=["Organizations"])


async def onboarding_service(accounts: Accounts) -> OnboardingService:
    return OnboardingService(accounts.orgs, accounts)


Onboarding = Annotated[OnboardingService, Depends(onboarding_service)]


@router.post("/orgs", operation_id="createOrganization", status_code=201, response_model=CreateOrganizationResponse)
async def create_organization(
    request: Request, caller: Caller, onboarding: Onboarding, body: CreateOrganizationRequest
) -> Response:
    first = None if body.service_account is None else new_account(body.service_account)
    org, account = await onboarding.create_organization(caller, body.name, first)
    return created(
        CreateOrganizationResponse(
            organization=org_schema(request, org),
            orgOwnerId=body.org_owner_id,
            serviceAccount=None if account is None else OrgServiceAccount.model_validate(org_account_schema(account)),
        )
    )
