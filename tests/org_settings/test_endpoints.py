"""Organization settings over real HTTP: getOrganizationSettings, updateOrganizationSettings, and what
``apiAccessListRequired`` does to the next request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from atlas_sa.kit.clock import FrozenClock
from tests.auth.digest.helpers import parse_challenge, seed_api_key
from tests.support.client import AtlasClient

DEFAULTS = {"apiAccessListRequired": False, "maxServiceAccountSecretValidityInHours": 8760}


def settings_path(org_id: str) -> str:
    return f"/api/atlas/v2/orgs/{org_id}/settings"


async def test_defaults(client: AtlasClient) -> None:
    org_id = await client.create_org()
    response = await client.get(settings_path(org_id))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.atlas.2023-01-01+json;charset=utf-8"
    assert response.json() == DEFAULTS


async def test_patch_changes_only_what_it_names(client: AtlasClient) -> None:
    org_id = await client.create_org()
    path = settings_path(org_id)
    response = await client.patch(path, json={"maxServiceAccountSecretValidityInHours": 24})
    assert response.status_code == 200, response.text
    assert response.json() == {**DEFAULTS, "maxServiceAccountSecretValidityInHours": 24}
    response = await client.patch(path, json={"apiAccessListRequired": False})
    assert response.json() == {**DEFAULTS, "maxServiceAccountSecretValidityInHours": 24}
    response = await client.patch(path, json={})
    assert response.status_code == 200
    assert (await client.get(path)).json() == {**DEFAULTS, "maxServiceAccountSecretValidityInHours": 24}


@pytest.mark.parametrize("hours", [8, 8760])
async def test_validity_bounds_are_inclusive(client: AtlasClient, hours: int) -> None:
    org_id = await client.create_org()
    response = await client.patch(settings_path(org_id), json={"maxServiceAccountSecretValidityInHours": hours})
    assert response.status_code == 200, response.text
    assert response.json()["maxServiceAccountSecretValidityInHours"] == hours


@pytest.mark.parametrize(
    ("body", "code", "parameter"),
    [
        ({"maxServiceAccountSecretValidityInHours": 7}, "INVALID_ATTRIBUTE", "maxServiceAccountSecretValidityInHours"),
        (
            {"maxServiceAccountSecretValidityInHours": 8761},
            "INVALID_ATTRIBUTE",
            "maxServiceAccountSecretValidityInHours",
        ),
        ({"maxServiceAccountSecretValidityInHours": -1}, "INVALID_ATTRIBUTE", "maxServiceAccountSecretValidityInHours"),
        (
            {"maxServiceAccountSecretValidityInHours": None},
            "INVALID_ATTRIBUTE",
            "maxServiceAccountSecretValidityInHours",
        ),
        (
            {"maxServiceAccountSecretValidityInHours": "24"},
            "INVALID_JSON_ATTRIBUTE",
            "maxServiceAccountSecretValidityInHours",
        ),
        (
            {"maxServiceAccountSecretValidityInHours": 24.5},
            "INVALID_JSON_ATTRIBUTE",
            "maxServiceAccountSecretValidityInHours",
        ),
        (
            {"maxServiceAccountSecretValidityInHours": True},
            "INVALID_JSON_ATTRIBUTE",
            "maxServiceAccountSecretValidityInHours",
        ),
        ({"apiAccessListRequired": "true"}, "INVALID_JSON_ATTRIBUTE", "apiAccessListRequired"),
        ({"apiAccessListRequired": 1}, "INVALID_JSON_ATTRIBUTE", "apiAccessListRequired"),
        ({"apiAccessListRequired": None}, "INVALID_ATTRIBUTE", "apiAccessListRequired"),
        ({"multiFactorAuthRequired": True}, "INVALID_ATTRIBUTE", "multiFactorAuthRequired"),
        (
            {"apiAccessListRequired": True, "maxServiceAccountSecretValidityInHours": 9000},
            "INVALID_ATTRIBUTE",
            "maxServiceAccountSecretValidityInHours",
        ),
    ],
)
async def test_bad_values_change_nothing(client: AtlasClient, body: dict[str, Any], code: str, parameter: str) -> None:
    org_id = await client.create_org()
    response = await client.patch(settings_path(org_id), json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == code
    assert response.json()["parameters"] == [parameter]
    assert (await client.get(settings_path(org_id))).json() == DEFAULTS


@pytest.mark.parametrize(
    ("content", "code"), [(b"[]", "INVALID_JSON"), (b"{", "MALFORMED_JSON"), (b"", "MALFORMED_JSON")]
)
async def test_bad_bodies(client: AtlasClient, content: bytes, code: str) -> None:
    org_id = await client.create_org()
    response = await client.patch(settings_path(org_id), content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == code
    assert (await client.get(settings_path(org_id))).json() == DEFAULTS


async def test_unknown_and_malformed_org(client: AtlasClient) -> None:
    await client.create_org()
    unknown = "5" * 24
    response = await client.get(settings_path(unknown))
    assert response.status_code == 404
    assert response.json()["errorCode"] == "ORG_NOT_FOUND"
    response = await client.patch(settings_path("not-an-org"), json={"apiAccessListRequired": True})
    assert response.status_code == 404
    assert response.json()["errorCode"] == "INVALID_ORG_ID"


async def test_no_credentials(client: AtlasClient) -> None:
    org_id = await client.create_org()
    response = await client.anonymous().get(settings_path(org_id))
    assert response.status_code == 401
    assert response.json()["errorCode"] == "UNAUTHORIZED"
    assert parse_challenge(response.headers["www-authenticate"])["stale"] == "false"


@pytest.mark.parametrize("role", ["ORG_MEMBER", "ORG_READ_ONLY", "ORG_GROUP_CREATOR", "ORG_BILLING_ADMIN"])
async def test_members_read_only_owners_write(client: AtlasClient, role: str) -> None:
    org_id = await client.create_org()
    member = await client.as_service_account(org_id, roles=(role,))
    path = settings_path(org_id)
    assert (await member.get(path)).json() == DEFAULTS
    response = await member.patch(path, json={"apiAccessListRequired": True})
    assert response.status_code == 401
    assert response.json()["errorCode"] == "USER_UNAUTHORIZED"
    assert (await client.get(path)).json() == DEFAULTS


async def test_other_organizations_settings_are_out_of_reach(client: AtlasClient) -> None:
    mine = await client.create_org("mine")
    other = client.anonymous()
    theirs = await other.create_org("theirs")
    for response in (
        await client.get(settings_path(theirs)),
        await client.patch(settings_path(theirs), json={"apiAccessListRequired": True}),
    ):
        assert response.status_code == 401
        assert response.json()["errorCode"] == "USER_UNAUTHORIZED"
    assert (await other.get(settings_path(theirs))).json() == DEFAULTS
    assert (await other.get(settings_path(mine))).status_code == 401


async def test_digest_api_keys(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()
    assert client.credentials is not None
    owner = client.anonymous()
    owner.auth = httpx.DigestAuth(client.credentials.public_key, client.credentials.private_key)
    response = await owner.patch(settings_path(org_id), json={"maxServiceAccountSecretValidityInHours": 48})
    assert response.status_code == 200, response.text
    assert response.json()["maxServiceAccountSecretValidityInHours"] == 48

    public, private = await seed_api_key(client.state.db, client.state.keys, clock, org_id, ("ORG_MEMBER",))
    member = client.anonymous()
    member.auth = httpx.DigestAuth(public, private)
    assert (await member.get(settings_path(org_id))).json()["maxServiceAccountSecretValidityInHours"] == 48
    response = await member.patch(settings_path(org_id), json={"maxServiceAccountSecretValidityInHours": 8})
    assert response.status_code == 401
    assert response.json()["errorCode"] == "USER_UNAUTHORIZED"


async def test_access_list_requirement_applies_to_the_next_request(client: AtlasClient) -> None:
    org_id = await client.create_org()
    member = await client.as_service_account(org_id, roles=("ORG_MEMBER",))
    # The way back: an owner account whose access list admits the address everyone here calls from.
    listed_owner = await client.as_service_account(org_id, roles=("ORG_OWNER",))
    assert listed_owner.account is not None
    entries = f"/api/atlas/v2/orgs/{org_id}/serviceAccounts/{listed_owner.account.client_id}/accessList"
    assert (await client.post(entries, json=[{"ipAddress": "203.0.113.7"}])).status_code == 200
    path = settings_path(org_id)
    assert (await member.get(path)).status_code == 200

    response = await client.patch(path, json={"apiAccessListRequired": True})
    assert response.status_code == 200
    assert response.json()["apiAccessListRequired"] is True

    # Neither account has an access list: both are now refused, the owner that flipped the switch included.
    for account in (member, client):
        response = await account.get(path)
        assert response.status_code == 403, response.text
        assert response.json()["errorCode"] == "ORG_REQUIRES_ACCESS_LIST"
        assert response.json()["parameters"] == ["203.0.113.7"]

    # So are the organization's API keys, which have no access list at all (docs/security.md), for every
    # operation: the owner's key can no longer turn the requirement off.
    assert client.credentials is not None
    owner_key = client.anonymous()
    owner_key.auth = httpx.DigestAuth(client.credentials.public_key, client.credentials.private_key)
    for response in (
        await owner_key.get(path),
        await owner_key.patch(path, json={"apiAccessListRequired": False}),
        await owner_key.get(f"/api/atlas/v2/orgs/{org_id}/serviceAccounts"),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["errorCode"] == "ORG_REQUIRES_ACCESS_LIST"
        assert response.json()["parameters"] == ["203.0.113.7"]
    assert (await listed_owner.get(path)).json()["apiAccessListRequired"] is True

    response = await listed_owner.patch(path, json={"apiAccessListRequired": False})
    assert response.status_code == 200, response.text
    assert (await member.get(path)).status_code == 200
    assert (await owner_key.get(path)).status_code == 200


async def test_access_list_requirement_is_per_organization_for_api_keys(client: AtlasClient) -> None:
    mine = await client.create_org("mine")
    other = client.anonymous()
    theirs = await other.create_org("theirs")
    assert (await other.patch(settings_path(theirs), json={"apiAccessListRequired": True})).status_code == 200
    assert client.credentials is not None
    my_key = client.anonymous()
    my_key.auth = httpx.DigestAuth(client.credentials.public_key, client.credentials.private_key)
    response = await my_key.patch(settings_path(mine), json={"maxServiceAccountSecretValidityInHours": 48})
    assert response.status_code == 200, response.text


async def test_max_validity_caps_new_secrets(client: AtlasClient) -> None:
    org_id = await client.create_org()
    response = await client.patch(settings_path(org_id), json={"maxServiceAccountSecretValidityInHours": 24})
    assert response.status_code == 200
    accounts = f"/api/atlas/v2/orgs/{org_id}/serviceAccounts"
    body = {"name": "capped", "description": "capped", "roles": ["ORG_MEMBER"], "secretExpiresAfterHours": 25}
    response = await client.post(accounts, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "INVALID_ATTRIBUTE"
    response = await client.post(accounts, json={**body, "secretExpiresAfterHours": 24})
    assert response.status_code == 201, response.text
