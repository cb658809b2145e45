"""Atlas's event shapes (resource version 2023-01-01): ``EventViewForOrg``, ``EventViewForNdsGroup``, their pages,
``Raw`` and ``EventTypeDetails``. The endpoints build the response dicts themselves (a page holds up to 500
events); these models describe them in the OpenAPI document, and tests/events/atlas-events.schema.json holds Atlas's
own shapes that the responses are checked against. Those dicts are built here, where the endpoints and the operator's
command line (``atlas-sa events``) both take them, with ``minDate``/``maxDate``'s parser."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ConfigDict, Field

from atlas_sa.audit.catalogue import CATALOGUE, EventType
from atlas_sa.errors import FieldViolation, InvalidQueryParameter
from atlas_sa.kit.clock import isoformat
from atlas_sa.kit.schemas import Link, ResponseModel
from atlas_sa.models import Event

V2 = "/api/atlas/v2"


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


# --- rendering -------------------------------------------------------------------------------------------------


def parse_instant(name: str, raw: str | None) -> datetime | None:
    """``minDate``/``maxDate``: ISO 8601, a date or a date and time; without a zone, UTC. Anything else is 400
    ``INVALID_QUERY_PARAMETER``."""
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
        return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        # OverflowError: a valid text whose UTC instant falls outside datetime's years 1..9999.
        raise InvalidQueryParameter(
            name, fields=[FieldViolation(name, "must be an ISO 8601 date and time, such as 2026-01-15T12:00:00Z")]
        ) from None


def raw_schema(event: Event) -> dict[str, Any]:
    """The event's raw document: Atlas's fields, then the target and what changed."""
    raw: dict[str, Any] = dict(event.details)
    raw.update(
        {
            "_t": event.event_type,
            "cre": isoformat(event.created_at),
            "description": CATALOGUE[EventType(event.event_type)].description,
            "id": event.id,
            "orgId": event.org_id,
        }
    )
    if event.group_id is not None:
        raw["cid"] = event.group_id
    if event.request_id is not None:
        raw["requestId"] = event.request_id
    return raw


def event_schema(base: str, event: Event, path: str, *, include_raw: bool) -> dict[str, Any]:
    """An :class:`EventViewForOrg` (or ``…ForNdsGroup``, the same fields); ``path`` is the event's own URL, after
    ``base`` (the server's public address; the command line passes the issuer URL)."""
    body: dict[str, Any] = {
        "created": isoformat(event.created_at),
        "eventTypeName": event.event_type,
        "id": event.id,
        # Nobody at MongoDB acts on this server.
        "isGlobalAdmin": False,
        "links": [{"href": base + path, "rel": "self"}],
        "orgId": event.org_id,
    }
    for key, value in (
        ("groupId", event.group_id),
        ("apiKeyId", event.api_key_id),
        ("publicKey", event.public_key),
        ("userId", event.user_id),
        ("username", event.username),
        ("remoteAddress", event.remote_address),
    ):
        if value is not None:
            body[key] = value
    # ApiUserEventViewForOrg: an API key's own events (API_KEY_*) name the key they concern, beside the key that
    # acted (``publicKey``).
    if event.event_type.startswith("API_KEY_") and "publicKey" in event.details:
        body["targetPublicKey"] = event.details["publicKey"]
    if include_raw:
        body["raw"] = raw_schema(event)
    return body


def org_event(base: str, event: Event, include_raw: bool) -> dict[str, Any]:
    return event_schema(base, event, f"{V2}/orgs/{event.org_id}/events/{event.id}", include_raw=include_raw)


def group_event(base: str, event: Event, group_id: str, include_raw: bool) -> dict[str, Any]:
    return event_schema(base, event, f"{V2}/groups/{group_id}/events/{event.id}", include_raw=include_raw)
