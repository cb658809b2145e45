"""Shapes of Atlas's private endpoints (no resource version: plain ``application/json``)."""

from __future__ import annotations

from pydantic import Field

from atlas_sa.kit.schemas import ResponseModel


class IpInfo(ResponseModel):
    """``GET /api/private/ipinfo``: the one field the Atlas CLI (go-client-mongodb-atlas ``IPInfo``) and the MCP
    server read. Despite its name it carries an IPv6 address when the caller has one."""

    current_ipv4_address: str = Field(alias="currentIpv4Address")
