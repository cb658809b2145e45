"""Atlas service-account shapes (resource version 2024-08-05), named as the spec's components.

Request models are strict and reject unknown fields. Roles are plain strings on the wire (the published spec strips
its enums) but are checked against Atlas's role lists here: an unknown role is 400 ``INVALID_ENUM_VALUE``.
Optional fields default to ``None``, but an explicit JSON ``null`` is a type error (400 ``INVALID_JSON_ATTRIBUTE``),
not "unchanged": the spec declares none of them nullable. Which fields were sent is read from ``model_fields_set``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from atlas_sa.identity.roles import ORG_ROLES, PROJECT_ROLES
from atlas_sa.kit.schemas import ATLAS_TEXT_PATTERN, Link, RequestModel, ResponseModel


def _role_checker(allowed: tuple[str, ...]) -> Any:
    known = frozenset(allowed)

    def check(value: str) -> str:
        if value not in known:
            # Reported as pydantic's own "enum" kind so the handler answers 400 INVALID_ENUM_VALUE with the value.
            raise PydanticCustomError("enum", "Input should be one of {expected}", {"expected": ", ".join(allowed)})
        return value

    return AfterValidator(check)


def not_null(type_error: str) -> Any:
    """Refuse an explicit ``null`` as pydantic refuses a wrong type (``type_error``: its error kind)."""

    def check(value: object) -> object:
        if value is None:
            raise PydanticCustomError(type_error, "null is not allowed here; leave the field out instead")
        return value

    return BeforeValidator(check)


OrgRole = Annotated[str, _role_checker(ORG_ROLES), Field(json_schema_extra={"enum": list(ORG_ROLES)})]
ProjectRole = Annotated[str, _role_checker(PROJECT_ROLES), Field(json_schema_extra={"enum": list(PROJECT_ROLES)})]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=ATLAS_TEXT_PATTERN)]
Description = Annotated[str, Field(min_length=1, max_length=250, pattern=ATLAS_TEXT_PATTERN)]
ClientId = Annotated[str, Field(pattern=r"^mdb_sa_id_[a-fA-F\d]{24}$", examples=["mdb_sa_id_1234567890abcdef12345678"])]


# --- requests --------------------------------------------------------------------------------------------------


class OrgServiceAccountRequest(RequestModel):
    description: Description
    name: Name
    roles: Annotated[list[OrgRole], Field(min_length=1)]
    # Required unless ``withoutInitialSecret`` is true; the service enforces that pairing and the org's bounds.
    secret_expires_after_hours: Annotated[int | None, not_null("int_type"), Field(alias="secretExpiresAfterHours")] = (
        None
    )
    without_initial_secret: Annotated[bool, Field(alias="withoutInitialSecret")] = False


class GroupServiceAccountRequest(RequestModel):
    description: Description
    name: Name
    roles: Annotated[list[ProjectRole], Field(min_length=1)]
    secret_expires_after_hours: Annotated[int | None, not_null("int_type"), Field(alias="secretExpiresAfterHours")] = (
        None
    )
    without_initial_secret: Annotated[bool, Field(alias="withoutInitialSecret")] = False


class OrgServiceAccountUpdateRequest(RequestModel):
    description: Annotated[Description | None, not_null("string_type")] = None
    name: Annotated[Name | None, not_null("string_type")] = None
    roles: Annotated[list[OrgRole] | None, not_null("list_type")] = None


class GroupServiceAccountUpdateRequest(RequestModel):
    description: Annotated[Description | None, not_null("string_type")] = None
    name: Annotated[Name | None, not_null("string_type")] = None
    roles: Annotated[list[ProjectRole] | None, not_null("list_type")] = None


def _no_repeats(roles: list[str]) -> list[str]:
    if len(set(roles)) != len(roles):
        raise PydanticCustomError("unique_items", "Roles must not repeat")
    return roles


class GroupServiceAccountRoleAssignment(RequestModel):
    # The one roles list the spec declares ``uniqueItems``: a repeated role is 400 INVALID_ATTRIBUTE.
    roles: Annotated[
        list[ProjectRole], Field(min_length=1, json_schema_extra={"uniqueItems": True}), AfterValidator(_no_repeats)
    ]


class ServiceAccountSecretRequest(RequestModel):
    secret_expires_after_hours: int = Field(alias="secretExpiresAfterHours")


# --- responses -------------------------------------------------------------------------------------------------


class ServiceAccountSecret(ResponseModel):
    created_at: datetime = Field(alias="createdAt")
    expires_at: datetime = Field(alias="expiresAt")
    id: str
    last_used_at: datetime | None = Field(default=None, alias="lastUsedAt")
    masked_secret_value: str | None = Field(default=None, alias="maskedSecretValue")
    # Only in the response that creates the secret.
    secret: str | None = None


class OrgServiceAccount(ResponseModel):
    client_id: str = Field(alias="clientId")
    created_at: datetime = Field(alias="createdAt")
    description: str
    name: str
    roles: list[str]
    secrets: list[ServiceAccountSecret]
    system_managed: bool = Field(alias="systemManaged")


class GroupServiceAccount(ResponseModel):
    client_id: str = Field(alias="clientId")
    created_at: datetime = Field(alias="createdAt")
    description: str
    name: str
    roles: list[str]
    secrets: list[ServiceAccountSecret]
    system_managed: bool = Field(alias="systemManaged")


class ServiceAccountGroup(ResponseModel):
    group_id: str = Field(alias="groupId")
    roles: list[str]


class PaginatedOrgServiceAccounts(ResponseModel):
    links: list[Link]
    results: list[OrgServiceAccount]
    total_count: int | None = Field(default=None, alias="totalCount")


class PaginatedGroupServiceAccounts(ResponseModel):
    links: list[Link]
    results: list[GroupServiceAccount]
    total_count: int | None = Field(default=None, alias="totalCount")


class PaginatedServiceAccountGroup(ResponseModel):
    links: list[Link]
    results: list[ServiceAccountGroup]
    total_count: int | None = Field(default=None, alias="totalCount")
