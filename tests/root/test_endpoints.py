"""``GET /api/atlas/v2`` (getSystemStatus) over real HTTP, as the Go SDK's ``RootApi.GetSystemStatus`` calls it and
Terraform's older ``mongodbatlas_roles_org_id`` reads it."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.client import AtlasClient

ROOT = "/api/atlas/v2"
# What the SDK sends for this operation (admin/api_root.go: the first of its Accept list).
SDK_ACCEPT = {"Accept": "application/vnd.atlas.2023-01-01+json"}


async def test_service_account_status(client: AtlasClient) -> None:
    await client.create_org()
    response = await client.get(ROOT, headers=SDK_ACCEPT)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.atlas.2023-01-01+json;charset=utf-8"
    body = response.json()
    assert re.fullmatch(r"[0-9a-f]{40}", body.pop("build"))
    assert body == {
        "appName": "atlas-sa",
        "ipAddress": "203.0.113.7",
        "links": [{"href": "http://atlas.test/api/atlas/v2", "rel": "self"}],
        "throttling": False,
    }


async def test_api_key_status_names_the_key_and_its_org_roles(client: AtlasClient) -> None:
    org_id = await client.create_org()
    assert client.credentials is not None
    caller = client.anonymous()
    caller.auth = httpx.DigestAuth(client.credentials.public_key, client.credentials.private_key)
    response = await caller.get(ROOT, headers=SDK_ACCEPT)
    assert response.status_code == 200, response.text
    api_key = response.json()["apiKey"]
    assert re.fullmatch(r"[0-9a-f]{24}", api_key.pop("id"))
    assert api_key == {
        "publicKey": client.credentials.public_key,
        "roles": [{"orgId": org_id, "roleName": "ORG_OWNER"}],
    }


async def test_a_later_version_date_resolves_and_wire_options_apply(client: AtlasClient) -> None:
    await client.create_org()
    response = await client.get(ROOT, params={"envelope": "true", "pretty": "true"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.atlas.2023-01-01+json;charset=utf-8"
    assert response.text.startswith("{\n")
    body = response.json()
    assert body["status"] == 200
    assert body["content"]["appName"] == "atlas-sa"


@pytest.mark.parametrize("accept", ["application/json", "application/vnd.atlas.2022-12-31+json"])
async def test_unusable_accept_is_406(client: AtlasClient, accept: str) -> None:
    await client.create_org()
    response = await client.get(ROOT, headers={"Accept": accept})
    assert response.status_code == 406
    assert response.json()["errorCode"] == "INVALID_VERSION_DATE"


async def test_needs_a_credential(client: AtlasClient) -> None:
    response = await client.anonymous().get(ROOT, headers=SDK_ACCEPT)
    assert response.status_code == 401
    assert response.json()["errorCode"] == "UNAUTHORIZED"
    assert response.headers["www-authenticate"].startswith("Digest ")
