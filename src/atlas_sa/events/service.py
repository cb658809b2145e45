"""Reading events: listOrgEvents, getOrgEvent (Organization Member), listGroupEvents, getGroupEvent (Project Read
Only), listEventTypes (any credential). Writing them is :mod:`atlas_sa.audit.recording`'s.

An organization's list holds every event of the organization, project events included (with their ``groupId``); a
project's list holds the events of operations on that project. An event outside the path's organization or project,
or a malformed event id, is 404 ``RESOURCE_NOT_FOUND``, as any absent resource.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from atlas_sa.audit.catalogue import CATALOGUE, PROJECT_TYPES, EventType, EventTypeInfo
from atlas_sa.errors import FieldViolation, InvalidEnumValue, ResourceNotFound
from atlas_sa.events.repository import EventFilter, EventRepository
from atlas_sa.identity.principal import Principal
from atlas_sa.identity.roles import Requirement, authorize
from atlas_sa.kit.ids import is_object_id
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import Event
from atlas_sa.orgs.service import OrgService
from atlas_sa.projects.service import ProjectService


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The list filters as sent; ``cluster_names`` only on the project list."""

    event_types: Sequence[str] = ()
    excluded_event_types: Sequence[str] = ()
    min_date: datetime | None = None
    max_date: datetime | None = None
    cluster_names: Sequence[str] = ()


def _known(values: Sequence[str], allowed: Collection[EventType], parameter: str) -> list[str]:
    """Atlas's filters take its enum of event types; a value outside the types emitted here is refused rather than
    silently matching nothing, so a misspelt filter is noticed."""
    for value in values:
        if value not in allowed:
            raise InvalidEnumValue(value, fields=[FieldViolation(parameter, f"unknown event type {value!r}")])
    return list(dict.fromkeys(values))


class EventService:
    def __init__(self, events: EventRepository, orgs: OrgService, projects: ProjectService) -> None:
        self.events = events
        self.orgs = orgs
        self.projects = projects

    @staticmethod
    def _filter(query: EventQuery, allowed: Collection[EventType]) -> EventFilter:
        return EventFilter(
            types=_known(query.event_types, allowed, "eventType"),
            excluded=_known(query.excluded_event_types, allowed, "excludedEventType"),
            min_date=query.min_date,
            max_date=query.max_date,
            nothing=bool(query.cluster_names),
        )

    async def list_for_org(
        self, caller: Principal, org_id: str, query: EventQuery, page: PageRequest
    ) -> tuple[Sequence[Event], int]:
        """listOrgEvents (Organization Member): newest first."""
        org = await self.orgs.require(org_id)
        authorize(caller, Requirement.ORG_MEMBER, org.id)
        return await self.events.page(page, org_id=org.id, group_id=None, where=self._filter(query, CATALOGUE))

    async def get_for_org(self, caller: Principal, org_id: str, event_id: str) -> Event:
        """getOrgEvent (Organization Member)."""
        org = await self.orgs.require(org_id)
        authorize(caller, Requirement.ORG_MEMBER, org.id)
        event = await self.events.get(event_id, org_id=org.id) if is_object_id(event_id) else None
        if event is None:
            raise ResourceNotFound(event_id)
        return event

    async def list_for_project(
        self, caller: Principal, group_id: str, query: EventQuery, page: PageRequest
    ) -> tuple[Sequence[Event], int]:
        """listGroupEvents (Project Read Only): newest first; ``excludedEventType`` and ``clusterNames`` too."""
        project = await self.projects.require(group_id)
        authorize(caller, Requirement.PROJECT_READ_ONLY, project.org_id, project.id)
        where = self._filter(query, PROJECT_TYPES)
        return await self.events.page(page, org_id=project.org_id, group_id=project.id, where=where)

    async def get_for_project(self, caller: Principal, group_id: str, event_id: str) -> Event:
        """getGroupEvent (Project Read Only)."""
        project = await self.projects.require(group_id)
        authorize(caller, Requirement.PROJECT_READ_ONLY, project.org_id, project.id)
        event = (
            await self.events.get(event_id, org_id=project.org_id, group_id=project.id)
            if is_object_id(event_id)
            else None
        )
        if event is None:
            raise ResourceNotFound(event_id)
        return event

    @staticmethod
    def event_types(page: PageRequest) -> tuple[list[tuple[EventType, EventTypeInfo]], int]:
        """listEventTypes: what this server emits, by name."""
        every = sorted(CATALOGUE.items())
        return every[page.offset : page.offset + page.limit], len(every)
