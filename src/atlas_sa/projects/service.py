"""Project rules: createProject, getProject, getProjectByName, listProjects, getOrganizationProjects,
deleteProject."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from atlas_sa.audit.catalogue import EventType
from atlas_sa.audit.recording import EventRecorder
from atlas_sa.errors import GroupAlreadyExists, GroupNotFound, InvalidGroupId, NotInGroup
from atlas_sa.identity.principal import Principal
from atlas_sa.identity.roles import Requirement, authorize, satisfies, visible_project_ids
from atlas_sa.kit.clock import Clock
from atlas_sa.kit.ids import is_object_id, new_object_id
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import Project
from atlas_sa.orgs.service import OrgService
from atlas_sa.projects.repository import DuplicateProjectName, ProjectRepository


def check_group_id(group_id: str) -> str:
    if not is_object_id(group_id):
        raise InvalidGroupId(group_id)
    return group_id


_T = TypeVar("_T")


def require_found_project(group_id: str, found: _T | None) -> _T:
    """What was found of the project ``group_id`` (the row, or what a joined read took of it), or 404
    ``GROUP_NOT_FOUND`` when nothing was."""
    if found is None:
        raise GroupNotFound(group_id)
    return found


class ProjectService:
    def __init__(self, projects: ProjectRepository, orgs: OrgService, clock: Clock, events: EventRecorder) -> None:
        self.projects = projects
        self.orgs = orgs
        self.clock = clock
        self.events = events

    async def require(self, group_id: str, *, for_update: bool = False) -> Project:
        """The project, or 404 (``INVALID_GROUP_ID`` when malformed, ``GROUP_NOT_FOUND`` when unknown)."""
        return require_found_project(group_id, await self.projects.get(check_group_id(group_id), for_update=for_update))

    async def create(self, caller: Principal, name: str, org_id: str, *, group_id: str | None = None) -> Project:
        """createProject (Organization Project Creator). Names are unique within an organization: 409. ``group_id``:
        a fixed id (a seed's, :mod:`atlas_sa.onboarding.seed`)."""
        org = await self.orgs.require(org_id)
        authorize(caller, Requirement.ORG_GROUP_CREATOR, org.id)
        now = self.clock.now()
        project = Project(id=group_id or new_object_id(now.timestamp()), org_id=org.id, name=name, created_at=now)
        try:
            await self.projects.add(project)
        except DuplicateProjectName:
            raise GroupAlreadyExists(name) from None
        await self.events.record(EventType.GROUP_CREATED, org_id=org.id, group_id=project.id, target={"gn": name})
        return project

    async def get(self, caller: Principal, group_id: str) -> Project:
        """getProject (Project Read Only)."""
        project = await self.require(group_id)
        authorize(caller, Requirement.PROJECT_READ_ONLY, project.org_id, project.id)
        return project

    async def get_by_name(self, caller: Principal, name: str) -> Project:
        """getProjectByName (Project Read Only). An invisible project is reported as absent."""
        org_ids = None if caller.is_system else [caller.org_id or ""]
        project = await self.projects.by_name(name, org_ids)
        if project is None or not satisfies(caller, Requirement.PROJECT_READ_ONLY, project.org_id, project.id):
            raise NotInGroup
        return project

    async def list(self, caller: Principal, page: PageRequest) -> tuple[Sequence[Project], int]:
        """listProjects: every project the caller can see."""
        if caller.is_system:
            return await self.projects.page(page)
        return await self.projects.page(page, org_id=caller.org_id or "", only_ids=visible_project_ids(caller))

    async def list_for_org(
        self, caller: Principal, org_id: str, page: PageRequest, name: str | None
    ) -> tuple[Sequence[Project], int]:
        """getOrganizationProjects (Organization Member): the org's projects the caller can see."""
        org = await self.orgs.require(org_id)
        authorize(caller, Requirement.ORG_MEMBER, org.id)
        return await self.projects.page(page, org_id=org.id, only_ids=visible_project_ids(caller), name=name)

    async def delete(self, caller: Principal, group_id: str) -> None:
        """deleteProject (Project Owner). Service accounts assigned to it lose that assignment only. Locked, so
        that of concurrent deletes one deletes (and records) and the others find the project gone."""
        project = await self.require(group_id, for_update=True)
        authorize(caller, Requirement.PROJECT_OWNER, project.org_id, project.id)
        await self.events.record(
            EventType.GROUP_DELETED, org_id=project.org_id, group_id=project.id, target={"gn": project.name}
        )
        await self.projects.delete(project)
