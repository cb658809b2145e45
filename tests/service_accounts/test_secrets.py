"""Secrets over real HTTP: createOrgSecret, deleteOrgSecret, createGroupSecret, deleteGroupSecret."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from atlas_sa.kit.clock import FrozenClock
from tests.service_accounts.support import (
    SA_MEDIA_TYPE,
    assert_error,
    create_group_account,
    create_org_account,
    group_account,
    org_account,
)
from tests.support.client import AtlasClient


def secrets_path(base: str) -> str:
    return f"{base}/secrets"


async def test_create_secret_shows_it_once(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id, secretExpiresAfterHours=8760)
    path = org_account(org_id, account["clientId"])
    clock.advance(minutes=30)  # within the client's token lifetime
    response = await client.post(secrets_path(path), json={"secretExpiresAfterHours": 48})
    assert response.status_code == 201
    assert response.headers["content-type"] == SA_MEDIA_TYPE
    secret = response.json()
    assert set(secret) == {"createdAt", "expiresAt", "id", "secret"}
    assert secret["createdAt"] == "2026-01-15T12:30:00Z"
    assert secret["expiresAt"] == "2026-01-17T12:30:00Z"
    assert secret["secret"].startswith("mdb_sa_sk_")
    assert len(secret["secret"]) == len("mdb_sa_sk_") + 40

    listed = (await client.get(path)).json()["secrets"]
    assert [s["id"] for s in listed] == [account["secrets"][0]["id"], secret["id"]]
    assert listed[1]["maskedSecretValue"] == "mdb_sa_sk_..." + secret["secret"][-4:]
    assert secret["secret"] not in (await client.get(path)).text


async def test_new_secret_shortens_the_others_to_seven_days(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()
    long_lived = await create_org_account(client, org_id, secretExpiresAfterHours=8760)
    short_lived = await create_org_account(client, org_id, secretExpiresAfterHours=24)
    clock.advance(minutes=30)  # within the client's token lifetime
    for account in (long_lived, short_lived):
        path = org_account(org_id, account["clientId"])
        assert (await client.post(secrets_path(path), json={"secretExpiresAfterHours": 8760})).status_code == 201
    first, second = (await client.get(org_account(org_id, long_lived["clientId"]))).json()["secrets"]
    assert first["expiresAt"] == "2026-01-22T12:30:00Z"  # now + 7 days, down from 2027
    assert second["expiresAt"] == "2027-01-15T12:30:00Z"
    first, _second = (await client.get(org_account(org_id, short_lived["clientId"]))).json()["secrets"]
    assert first["expiresAt"] == "2026-01-16T12:00:00Z"  # already sooner than 7 days: unchanged


async def test_at_most_two_secrets(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id)
    path = org_account(org_id, account["clientId"])
    second = (await client.post(secrets_path(path), json={"secretExpiresAfterHours": 24})).json()
    third = await client.post(secrets_path(path), json={"secretExpiresAfterHours": 24})
    assert_error(third, 400, "MAX_SECRETS_PER_SERVICE_ACCOUNT_EXCEEDED", [account["clientId"], 2])
    assert len((await client.get(path)).json()["secrets"]) == 2
    assert (await client.delete(f"{secrets_path(path)}/{second['id']}")).status_code == 204
    assert (await client.post(secrets_path(path), json={"secretExpiresAfterHours": 24})).status_code == 201


@pytest.mark.parametrize(
    ("body", "code", "parameter"),
    [
        ({}, "MISSING_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": 7}, "INVALID_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": 8761}, "INVALID_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": -1}, "INVALID_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": "8"}, "INVALID_JSON_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": 8, "name": "x"}, "INVALID_ATTRIBUTE", "name"),
    ],
)
async def test_create_secret_rejects_bad_bodies(
    client: AtlasClient, body: dict[str, Any], code: str, parameter: str
) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id)
    path = org_account(org_id, account["clientId"])
    assert_error(await client.post(secrets_path(path), json=body), 400, code, [parameter])
    assert len((await client.get(path)).json()["secrets"]) == 1


async def test_delete_secret(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id)
    other = await create_org_account(client, org_id)
    path = org_account(org_id, account["clientId"])
    secret_id = account["secrets"][0]["id"]

    for unknown in ("c" * 24, "not-an-id", other["secrets"][0]["id"]):
        assert_error(await client.delete(f"{secrets_path(path)}/{unknown}"), 404, "RESOURCE_NOT_FOUND", [unknown])
    deleted = await client.delete(f"{secrets_path(path)}/{secret_id}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    # Deleting the last secret is allowed: the account remains, unable to get tokens until it has a new one.
    assert (await client.get(path)).json()["secrets"] == []
    assert_error(await client.delete(f"{secrets_path(path)}/{secret_id}"), 404, "RESOURCE_NOT_FOUND", [secret_id])
    assert len((await client.get(org_account(org_id, other["clientId"]))).json()["secrets"]) == 1


async def test_project_path_secrets(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await create_group_account(client, group_id)
    path = group_account(group_id, account["clientId"])
    created = await client.post(secrets_path(path), json={"secretExpiresAfterHours": 12})
    assert created.status_code == 201
    assert created.json()["expiresAt"] == "2026-01-16T00:00:00Z"
    assert_error(
        await client.post(secrets_path(path), json={"secretExpiresAfterHours": 12}),
        400,
        "MAX_SECRETS_PER_SERVICE_ACCOUNT_EXCEEDED",
    )
    assert_error(await client.post(secrets_path(path), json={"secretExpiresAfterHours": 2}), 400, "INVALID_ATTRIBUTE")
    assert (await client.delete(f"{secrets_path(path)}/{created.json()['id']}")).status_code == 204
    assert [s["id"] for s in (await client.get(path)).json()["secrets"]] == [account["secrets"][0]["id"]]
    # The project path and the organization path manage the same secrets.
    org_path = org_account(org_id, account["clientId"])
    assert (await client.get(org_path)).json()["secrets"] == (await client.get(path)).json()["secrets"]


async def test_project_owner_cannot_mint_secrets_for_an_account_beyond_the_project(client: AtlasClient) -> None:
    if not hasattr(client, "as_service_account"):
        pytest.skip("needs authentication (service-account callers)")
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    project_only = await create_group_account(client, group_id)
    org_owner = await create_org_account(client, org_id, roles=["ORG_OWNER"])
    await client.post(f"{group_account(group_id, org_owner['clientId'])}:invite", json={"roles": ["GROUP_OWNER"]})
    project_owner = await client.as_service_account(org_id, ["ORG_MEMBER"], {group_id: ["GROUP_OWNER"]})

    own_project = group_account(group_id, project_only["clientId"])
    assert (await project_owner.post(secrets_path(own_project), json={"secretExpiresAfterHours": 8})).status_code == 201
    wider = group_account(group_id, org_owner["clientId"])
    refused = await project_owner.post(secrets_path(wider), json={"secretExpiresAfterHours": 8})
    assert_error(refused, 401, "USER_UNAUTHORIZED")
    refused = await project_owner.delete(f"{secrets_path(wider)}/{org_owner['secrets'][0]['id']}")
    assert_error(refused, 401, "USER_UNAUTHORIZED")
    assert len((await client.get(org_account(org_id, org_owner["clientId"]))).json()["secrets"]) == 1


async def test_two_secrets_at_most_under_concurrent_creates(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id)
    path = secrets_path(org_account(org_id, account["clientId"]))
    responses = await asyncio.gather(*(client.post(path, json={"secretExpiresAfterHours": 24}) for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [201] + [400] * 5
    assert len((await client.get(org_account(org_id, account["clientId"]))).json()["secrets"]) == 2
