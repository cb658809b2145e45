"""Atlas's ``SystemStatus`` shape (resource version 2023-01-01), as the Go SDK's model has it."""

from __future__ import annotations

from pydantic import Field

from atlas_sa.kit.schemas import Link, ResponseModel


class CloudAccessRoleAssignment(ResponseModel):
    org_id: str | None = Field(default=None, alias="orgId")
    role_name: str = Field(alias="roleName")


class ApiKey(ResponseModel):
    """The Digest caller's API key. Terraform's older ``mongodbatlas_roles_org_id`` reads the ``orgId`` of its first
    ``ORG_`` role."""

    id: str
    public_key: str = Field(alias="publicKey")
    roles: list[CloudAccessRoleAssignment]


class SystemStatus(ResponseModel):
    api_key: ApiKey | None = Field(default=None, alias="apiKey")
    app_name: str = Field(alias="appName")
    build: str
    ip_address: str = Field(alias="ipAddress")
    links: list[Link]
    throttling: bool
