"""Atlas access-list shapes (resource version 2024-08-05): ``ServiceAccountIPAccessListEntry`` and its page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from atlas_sa.kit.schemas import Link, RequestModel, ResponseModel
from atlas_sa.models import AccessListEntry
from atlas_sa.service_accounts.schemas import not_null

MAX_ENTRIES_PER_REQUEST = 200


class ServiceAccountIPAccessListEntryRequest(RequestModel):
    """One entry of the POST body: exactly one of ``ipAddress`` or ``cidrBlock`` (checked by the service, which
    also parses the address). ``null`` is not "absent": it is a type error."""

    cidr_block: Annotated[
        str | None, not_null("string_type"), Field(alias="cidrBlock", examples=["203.0.113.0/24"])
    ] = None
    ip_address: Annotated[str | None, not_null("string_type"), Field(alias="ipAddress", examples=["203.0.113.10"])] = (
        None
    )


class ServiceAccountIPAccessListEntry(ResponseModel):
    cidr_block: str = Field(alias="cidrBlock")
    created_at: datetime = Field(alias="createdAt")
    ip_address: str | None = Field(default=None, alias="ipAddress")
    last_used_address: str | None = Field(default=None, alias="lastUsedAddress")
    last_used_at: datetime | None = Field(default=None, alias="lastUsedAt")
    request_count: int = Field(alias="requestCount")


class PaginatedServiceAccountIPAccessEntry(ResponseModel):
    links: list[Link]
    results: list[ServiceAccountIPAccessListEntry]
    total_count: int | None = Field(default=None, alias="totalCount")


def entry_schema(entry: AccessListEntry) -> ServiceAccountIPAccessListEntry:
    return ServiceAccountIPAccessListEntry.model_validate(
        {
            "cidrBlock": entry.cidr_block,
            "createdAt": entry.created_at,
            "ipAddress": entry.ip_address,
            "lastUsedAddress": entry.last_used_address,
            "lastUsedAt": entry.last_used_at,
            "requestCount": entry.request_count,
        }
    )
