"""HTTP endpoints for organizations (``/api/atlas/v2/orgs``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from atlas_sa.audit.dependencies import Recorder
from atlas_sa.identity.caller import Caller
from atlas_sa.kit.pages import paginated, paging_with_count
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.kit.rendering import ok
from atlas_sa.kit.routing import atlas_router, request_session
from atlas_sa.kit.state import app_state
from atlas_sa.kit.urls import public_base
from atlas_sa.models import Organization
from atlas_sa.orgs.repository import OrgRepository
from atlas_sa.orgs.schemas import AtlasOrganization, PaginatedOrganization, org_document
from atlas_sa.orgs.service import OrgService

ORGS_VERSION = "2023-01-01"
router = atlas_router(ORGS_VERSION, prefix="/api/atlas/v2", tags=["Organizations"])


async def org_service(
    request: Request, session: Annotated[AsyncSession, Depends(request_session)], events: Recorder
) -> OrgService:
    state = app_state(request)
    return OrgService(OrgRepository(session), state.clock, events)


Orgs = Annotated[OrgService, Depends(org_service)]


def org_schema(request: Request, org: Organization) -> AtlasOrganization:
    return org_document(public_base(request), org)


@router.get("/orgs", operation_id="listOrganizations", response_model=PaginatedOrganization)
async def list_organizations(
    request: Request,
    caller: Caller,
    orgs: Orgs,
    page: Annotated[PageRequest, Depends(paging_with_count)],
    name: Annotated[str | None, Query(description="Human-readable label of the organization to return.")] = None,
) -> Response:
    rows, total = await orgs.list(caller, page, name)
    return ok(paginated(request, page, [org_schema(request, org) for org in rows], total))


@router.get("/orgs/{orgId}", operation_id="getOrganization", response_model=AtlasOrganization)
async def get_organization(request: Request, caller: Caller, orgs: Orgs, orgId: str) -> Response:  # noqa: N803
    return ok(org_schema(request, await orgs.get(caller, orgId)))
