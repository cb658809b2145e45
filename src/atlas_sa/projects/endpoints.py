"""HTTP endpoints for projects (``/api/atlas/v2/groups``, ``/api/atlas/v2/orgs/{orgId}/groups``)."""

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
from atlas_sa.kit.rendering import no_content, ok
from atlas_sa.kit.routing import atlas_router, request_session
from atlas_sa.kit.state import app_state
from atlas_sa.kit.urls import public_base
from atlas_sa.models import Project
from atlas_sa.orgs.endpoints import ORGS_VERSION
from atlas_sa.orgs.repository import OrgRepository
from atlas_sa.orgs.service import OrgService
from atlas_sa.projects.repository import ProjectRepository
from atlas_sa.projects.schemas import Group, GroupRequest, PaginatedAtlasGroup, group_document
from atlas_sa.projects.service import ProjectService

router = atlas_router(ORGS_VERSION, prefix="/api/atlas/v2", tags=["Projects"])


async def project_service(
    request: Request, session: Annotated[AsyncSession, Depends(request_session)], events: Recorder
) -> ProjectService:
    clock = app_state(request).clock
    return ProjectService(ProjectRepository(session), OrgService(OrgRepository(session), clock, events), clock, events)


Projects = Annotated[ProjectService, Depends(project_service)]
Paging = Annotated[PageRequest, Depends(paging_with_count)]


def group_schema(request: Request, project: Project) -> Group:
    return group_document(public_base(request), project)


@router.get("/groups", operation_id="listProjects", response_model=PaginatedAtlasGroup)
async def list_projects(request: Request, caller: Caller, projects: Projects, page: Paging) -> Response:
    rows, total = await projects.list(caller, page)
    return ok(paginated(request, page, [group_schema(request, p) for p in rows], total))


@router.post("/groups", operation_id="createProject", response_model=Group)
async def create_project(request: Request, caller: Caller, projects: Projects, body: GroupRequest) -> Response:
    # Atlas answers createProject with 200, not 201.
    return ok(group_schema(request, await projects.create(caller, body.name, body.org_id)))


@router.get("/groups/byName/{groupName}", operation_id="getProjectByName", response_model=Group)
async def get_project_by_name(
    request: Request,
    caller: Caller,
    projects: Projects,
    groupName: str,  # noqa: N803
) -> Response:
    return ok(group_schema(request, await projects.get_by_name(caller, groupName)))


@router.get("/groups/{groupId}", operation_id="getProject", response_model=Group)
async def get_project(request: Request, caller: Caller, projects: Projects, groupId: str) -> Response:  # noqa: N803
    return ok(group_schema(request, await projects.get(caller, groupId)))


@router.delete("/groups/{groupId}", operation_id="deleteProject", status_code=204)
async def delete_project(caller: Caller, projects: Projects, groupId: str) -> Response:  # noqa: N803
    await projects.delete(caller, groupId)
    return no_content()


@router.get("/orgs/{orgId}/groups", operation_id="getOrganizationProjects", response_model=PaginatedAtlasGroup)
async def get_organization_projects(
    request: Request,
    caller: Caller,
    projects: Projects,
    page: Paging,
    orgId: str,  # noqa: N803
    name: Annotated[str | None, Query(description="Human-readable label of the project to return.")] = None,
) -> Response:
    rows, total = await projects.list_for_org(caller, orgId, page, name)
    return ok(paginated(request, page, [group_schema(request, p) for p in rows], total))
