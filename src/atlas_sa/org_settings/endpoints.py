"""HTTP endpoints for organization settings (``/api/atlas/v2/orgs/{orgId}/settings``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from atlas_sa.audit.dependencies import Recorder
from atlas_sa.identity.caller import Caller
from atlas_sa.kit.rendering import ok
from atlas_sa.kit.routing import atlas_router, request_session
from atlas_sa.kit.state import app_state
from atlas_sa.models import Organization
from atlas_sa.org_settings.schemas import OrganizationSettings, OrganizationSettingsUpdate
from atlas_sa.org_settings.service import OrgSettingsService
from atlas_sa.orgs.endpoints import ORGS_VERSION
from atlas_sa.orgs.repository import OrgRepository
from atlas_sa.orgs.service import OrgService

router = atlas_router(ORGS_VERSION, prefix="/api/atlas/v2", tags=["Organizations"])


async def org_settings_service(
    request: Request, session: Annotated[AsyncSession, Depends(request_session)], events: Recorder
) -> OrgSettingsService:
    return OrgSettingsService(OrgService(OrgRepository(session), app_state(request).clock, events), events)


OrgSettings = Annotated[OrgSettingsService, Depends(org_settings_service)]


def settings_schema(org: Organization) -> OrganizationSettings:
    return OrganizationSettings.model_validate(
        {
            "apiAccessListRequired": org.api_access_list_required,
            "maxServiceAccountSecretValidityInHours": org.max_secret_validity_hours,
        }
    )


@router.get("/orgs/{orgId}/settings", operation_id="getOrganizationSettings", response_model=OrganizationSettings)
async def get_organization_settings(caller: Caller, settings: OrgSettings, orgId: str) -> Response:  # noqa: N803
    return ok(settings_schema(await settings.get(caller, orgId)))


@router.patch("/orgs/{orgId}/settings", operation_id="updateOrganizationSettings", response_model=OrganizationSettings)
async def update_organization_settings(
    caller: Caller,
    settings: OrgSettings,
    orgId: str,  # noqa: N803
    body: OrganizationSettingsUpdate,
) -> Response:
    return ok(settings_schema(await settings.update(caller, orgId, body)))
