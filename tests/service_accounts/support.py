"""Helpers for service-account tests: paths, creating accounts over HTTP, asserting Atlas errors."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.client import AtlasClient

V2 = "/api/atlas/v2"
ERROR_KEYS = {"detail", "error", "errorCode", "parameters", "reason"}
SA_MEDIA_TYPE = "application/vnd.atlas.2024-08-05+json;charset=utf-8"


def org_accounts(org_id: str) -> str:
    return f"{V2}/orgs/{org_id}/serviceAccounts"


def org_account(org_id: str, client_id: str) -> str:
    return f"{org_accounts(org_id)}/{client_id}"


def group_accounts(group_id: str) -> str:
    return f"{V2}/groups/{group_id}/serviceAccounts"


def group_account(group_id: str, client_id: str) -> str:
    return f"{group_accounts(group_id)}/{client_id}"


def org_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "ci-bot",
        "description": "Deploys things",
        "roles": ["ORG_READ_ONLY"],
        "secretExpiresAfterHours": 24,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def group_body(**overrides: Any) -> dict[str, Any]:
    return org_body(**{"roles": ["GROUP_READ_ONLY"], **overrides})


async def create_org_account(client: AtlasClient, org_id: str, **overrides: Any) -> dict[str, Any]:
    response = await client.post(org_accounts(org_id), json=org_body(**overrides))
    assert response.status_code == 201, response.text
    account: dict[str, Any] = response.json()
    return account


async def create_group_account(client: AtlasClient, group_id: str, **overrides: Any) -> dict[str, Any]:
    response = await client.post(group_accounts(group_id), json=group_body(**overrides))
    assert response.status_code == 201, response.text
    account: dict[str, Any] = response.json()
    return account


async def org_total(client: AtlasClient, org_id: str) -> int:
    """How many accounts the org lists now (the client's own bootstrap account included, once auth lands)."""
    response = await client.get(org_accounts(org_id), params={"itemsPerPage": 1})
    assert response.status_code == 200, response.text
    total: int = response.json()["totalCount"]
    return total


def assert_error(
    response: httpx.Response, status: int, code: str, parameters: list[Any] | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-error-code"] == code
    body: dict[str, Any] = response.json()
    assert set(body) >= ERROR_KEYS
    assert body["error"] == status
    assert body["errorCode"] == code, body
    if parameters is not None:
        assert body["parameters"] == parameters, body
    return body
