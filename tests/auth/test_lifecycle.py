"""A service account made through the API gets a token at once and works within its roles; deleting its secret, or
the account, makes its tokens fail on the very next request; changing its roles applies on the next request."""

from __future__ import annotations

from typing import Any

from atlas_sa.kit.db import Database
from atlas_sa.models import AccessToken
from tests.support.client import AtlasClient, basic
from tests.support.rows import count

V2 = "/api/atlas/v2"


async def make_account(client: AtlasClient, org_id: str, roles: list[str]) -> dict[str, Any]:
    response = await client.post(
        f"{V2}/orgs/{org_id}/serviceAccounts",
        json={"name": "robot", "description": "made over the API", "roles": roles, "secretExpiresAfterHours": 24},
    )
    assert response.status_code == 201, response.text
    account: dict[str, Any] = response.json()
    return account


async def login(client: AtlasClient, account: dict[str, Any]) -> AtlasClient:
    robot = client.anonymous()
    await robot.login(account["clientId"], account["secrets"][0]["secret"])
    return robot


async def test_api_made_account_works_within_its_roles(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await make_account(client, org_id, ["ORG_READ_ONLY"])
    robot = await login(client, account)
    assert (await robot.get(f"{V2}/groups/{group_id}")).status_code == 200
    assert (await robot.get(f"{V2}/orgs/{org_id}/serviceAccounts")).status_code == 200
    refused = await robot.post(f"{V2}/groups", json={"name": "nope", "orgId": org_id})
    assert refused.status_code == 401
    assert refused.json()["errorCode"] == "USER_UNAUTHORIZED"

    # The secret's lastUsedAt shows the token exchange.
    got = (await client.get(f"{V2}/orgs/{org_id}/serviceAccounts/{account['clientId']}")).json()
    assert got["secrets"][0]["lastUsedAt"] == "2026-01-15T12:00:00Z"

    # A role change applies on the next request, with the same token.
    patched = await client.patch(
        f"{V2}/orgs/{org_id}/serviceAccounts/{account['clientId']}", json={"roles": ["ORG_GROUP_CREATOR"]}
    )
    assert patched.status_code == 200, patched.text
    assert (await robot.post(f"{V2}/groups", json={"name": "yes", "orgId": org_id})).status_code == 200


async def test_deleting_the_account_revokes_its_tokens(client: AtlasClient, db: Database) -> None:
    org_id = await client.create_org()
    account = await make_account(client, org_id, ["ORG_OWNER"])
    robot = await login(client, account)
    assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 200
    deleted = await client.delete(f"{V2}/orgs/{org_id}/serviceAccounts/{account['clientId']}")
    assert deleted.status_code == 204
    response = await robot.get(f"{V2}/orgs/{org_id}")
    assert response.status_code == 401
    assert response.json()["errorCode"] == "UNAUTHORIZED"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    # Only the bootstrap owner's token is left.
    assert await count(db, AccessToken) == 1


async def test_deleting_a_secret_revokes_the_tokens_it_minted(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await make_account(client, org_id, ["ORG_OWNER"])
    client_id = account["clientId"]
    second = await client.post(
        f"{V2}/orgs/{org_id}/serviceAccounts/{client_id}/secrets", json={"secretExpiresAfterHours": 24}
    )
    assert second.status_code == 201, second.text
    by_first = await login(client, account)
    by_second = client.anonymous()
    await by_second.login(client_id, second.json()["secret"])
    first_secret_id = account["secrets"][0]["id"]
    gone = await client.delete(f"{V2}/orgs/{org_id}/serviceAccounts/{client_id}/secrets/{first_secret_id}")
    assert gone.status_code == 204
    assert (await by_first.get(f"{V2}/orgs/{org_id}")).status_code == 401
    assert (await by_second.get(f"{V2}/orgs/{org_id}")).status_code == 200
    # And the deleted secret no longer mints.
    refused = await client.post(
        "/api/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(client_id, account["secrets"][0]["secret"]),
    )
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
