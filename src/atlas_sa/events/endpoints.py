"""HTTP endpoints of Atlas's Events API (resource version 2023-01-01): ``/orgs/{orgId}/events[/{eventId}]``,
``/groups/{groupId}/events[/{eventId}]`` and ``/eventTypes``. Handlers are named after the operation ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from atlas_sa.audit.dependencies import Recorder
from atlas_sa.events.repository import EventRepository
from atlas_sa.events.schemas import (
    V2,
    EventViewForNdsGroup,
    EventViewForOrg,
    GroupPaginatedEvent,
    OrgPaginatedEvent,
    PaginatedEventTypeDetailsResponse,
    group_event,
    org_event,
    parse_instant,
)
from atlas_sa.events.service import EventQuery, EventService
from atlas_sa.identity.caller import Caller
from atlas_sa.kit.pages import paginated, paging_with_count
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.kit.rendering import ok
from atlas_sa.kit.routing import atlas_router, request_session
from atlas_sa.kit.state import app_state
from atlas_sa.kit.urls import public_base
from atlas_sa.orgs.repository import OrgRepository
from atlas_sa.orgs.service import OrgService
from atlas_sa.projects.repository import ProjectRepository
from atlas_sa.projects.service import ProjectService

EVENTS_VERSION = "2023-01-01"
router = atlas_router(EVENTS_VERSION, prefix=V2, tags=["Events"])


async def event_service(
    request: Request, session: Annotated[AsyncSession, Depends(request_session)], events: Recorder
) -> EventService:
    clock = app_state(request).clock
    orgs = OrgService(OrgRepository(session), clock, events)
    return EventService(EventRepository(session), orgs, ProjectService(ProjectRepository(session), orgs, clock, events))


Events = Annotated[EventService, Depends(event_service)]
Paging = Annotated[PageRequest, Depends(paging_with_count)]
EventTypes = Annotated[
    list[str] | None,
    Query(alias="eventType", description="Category of incident recorded at this moment in time (repeatable)."),
]
ExcludedEventTypes = Annotated[
    list[str] | None,
    Query(alias="excludedEventType", description="Category of event to exclude from the results (repeatable)."),
]
ClusterNames = Annotated[
    list[str] | None,
    Query(alias="clusterNames", description="Clusters the events concern; no event of this server concerns one."),
]
IncludeRaw = Annotated[
    bool, Query(alias="includeRaw", description="Whether each event carries its raw document (`raw`).")
]
MinDate = Annotated[
    str | None, Query(alias="minDate", description="ISO 8601 date and time: only events created at or after it.")
]
MaxDate = Annotated[
    str | None, Query(alias="maxDate", description="ISO 8601 date and time: only events created at or before it.")
]


def _values(values: Sequence[str] | None) -> Sequence[str]:
    return values or ()


# --- organization events ---------------------------------------------------------------------------------------


@router.get("/orgs/{orgId}/events", operation_id="listOrgEvents", response_model=OrgPaginatedEvent)
async def list_org_events(
    request: Request,
    caller: Caller,
    events: Events,
    page: Paging,
    orgId: str,  # noqa: N803
    event_type: EventTypes = None,
    include_raw: IncludeRaw = False,
    min_date: MinDate = None,
    max_date: MaxDate = None,
) -> Response:
    query = EventQuery(
        event_types=_values(event_type),
        min_date=parse_instant("minDate", min_date),
        max_date=parse_instant("maxDate", max_date),
    )
    rows, total = await events.list_for_org(caller, orgId, query, page)
    base = public_base(request)
    return ok(paginated(request, page, [org_event(base, e, include_raw) for e in rows], total))


@router.get("/orgs/{orgId}/events/{eventId}", operation_id="getOrgEvent", response_model=EventViewForOrg)
async def get_org_event(
    request: Request,
    caller: Caller,
    events: Events,
    orgId: str,  # noqa: N803
    eventId: str,  # noqa: N803
    include_raw: IncludeRaw = False,
) -> Response:
    return ok(org_event(public_base(request), await events.get_for_org(caller, orgId, eventId), include_raw))


# --- project events --------------------------------------------------------------------------------------------


@router.get("/groups/{groupId}/events", operation_id="listGroupEvents", response_model=GroupPaginatedEvent)
async def list_group_events(
    request: Request,
    caller: Caller,
    events: Events,
    page: Paging,
    groupId: str,  # noqa: N803
    event_type: EventTypes = None,
    excluded_event_type: ExcludedEventTypes = None,
    cluster_names: ClusterNames = None,
    include_raw: IncludeRaw = False,
    min_date: MinDate = None,
    max_date: MaxDate = None,
) -> Response:
    query = EventQuery(
        event_types=_values(event_type),
        excluded_event_types=_values(excluded_event_type),
        min_date=parse_instant("minDate", min_date),
        max_date=parse_instant("maxDate", max_date),
        cluster_names=_values(cluster_names),
    )
    rows, total = await events.list_for_project(caller, groupId, query, page)
    base = public_base(request)
    return ok(paginated(request, page, [group_event(base, e, groupId, include_raw) for e in rows], total))


@router.get("/groups/{groupId}/events/{eventId}", operation_id="getGroupEvent", response_model=EventViewForNdsGroup)
async def get_group_event(
    request: Request,
    caller: Caller,
    events: Events,
    groupId: str,  # noqa: N803
    eventId: str,  # noqa: N803
    include_raw: IncludeRaw = False,
) -> Response:
    event = await events.get_for_project(caller, groupId, eventId)
    return ok(group_event(public_base(request), event, groupId, include_raw))


# --- event types -----------------------------------------------------------------------------------------------


@router.get("/eventTypes", operation_id="listEventTypes", response_model=PaginatedEventTypeDetailsResponse)
async def list_event_types(request: Request, caller: Caller, page: Paging) -> Response:
    del caller  # any credential may read the catalogue, but one is required
    types, total = EventService.event_types(page)
    results = [
        {"alertable": info.alertable, "description": info.description, "eventType": name.value} for name, info in types
    ]
    return ok(paginated(request, page, results, total))
