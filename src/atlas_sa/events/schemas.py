"""Atlas's event shapes (resource version 2023-01-01): ``EventViewForOrg``, ``EventViewForNdsGroup``, their pages,
``Raw`` and ``EventTypeDetails``. The endpoints build the response dicts themselves (a page holds up to 500
events); these models describe them in the OpenAPI document, and tests/events/atlas-events.schema.json holds Atlas's
own shapes that the responses are checked against."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from atlas_sa.kit.schemas import Link, ResponseModel


class Raw(ResponseModel):
    """Additional meta information about the event (``includeRaw=true``); besides Atlas's fields it names the
    event's target: ``clientId``, ``secretId``, ``cidrBlock``, ``apiKeyId``… and ``requestId``."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    t: str = Field(alias="_t", description="Unique identifier of event type.")
    cid: str | None = Field(default=None, description="Unique 24-hexadecimal digit string that identifies the project.")
    cre: datetime = Field(description="Date and time when this event occurred.")
    description: str = Field(description="Description of the event.")
    gn: str | None = Field(default=None, description="Human-readable label that identifies the project.")
    id: str
    org_id: str = Field(alias="orgId")
    org_name: str | None = Field(default=None, alias="orgName")


class _EventView(ResponseModel):
    api_key_id: str | None = Field(default=None, alias="apiKeyId")
    created: datetime
    event_type_name: str = Field(alias="eventTypeName")
    group_id: str | None = Field(default=None, alias="groupId")
    id: str
    is_global_admin: bool = Field(alias="isGlobalAdmin")
    links: list[Link]
    org_id: str = Field(alias="orgId")
    public_key: str | None = Field(default=None, alias="publicKey")
    raw: Raw | None = None
    remote_address: str | None = Field(default=None, alias="remoteAddress")
    target_public_key: str | None = Field(
        default=None, alias="targetPublicKey", description="Public part of the API key that this event targets."
    )
    user_id: str | None = Field(default=None, alias="userId")
    username: str | None = None


class EventViewForOrg(_EventView):
    pass


class EventViewForNdsGroup(_EventView):
    pass


class OrgPaginatedEvent(ResponseModel):
    links: list[Link]
    results: list[EventViewForOrg]
    total_count: int | None = Field(default=None, alias="totalCount")


class GroupPaginatedEvent(ResponseModel):
    links: list[Link]
    results: list[EventViewForNdsGroup]
    total_count: int | None = Field(default=None, alias="totalCount")


class EventTypeDetails(ResponseModel):
    alertable: bool
    description: str
    event_type: str = Field(alias="eventType")


class PaginatedEventTypeDetailsResponse(ResponseModel):
    links: list[Link]
    results: list[EventTypeDetails]
    total_count: int | None = Field(default=None, alias="totalCount")
