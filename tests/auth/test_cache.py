"""The principal and client caches never serve a stale answer: every change that matters, made after a token or a
client was cached, applies on the very next request; group commit mints distinct, durable tokens and keeps the
100-token cap."""

from __future__ import annotations

import asyncio

import pytest

from atlas_sa.auth.cache import AuthCaches
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.models import AccessToken, Organization
from atlas_sa.settings import Settings
from tests.support.client import AtlasClient, basic
from tests.support.rows import count
from tests.support.settings import settings_on

V2 = "/api/atlas/v2"
TOKEN = "/api/oauth/token"


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Minting past 100 tokens for one client would hit the token endpoint's rate limit (50 a minute).
    return settings_on(database_url, rate_limits_enabled=False)


def caches(client: AtlasClient) -> AuthCaches:
    caches: AuthCaches = client.app.state.auth.caches
    return caches


async def test_a_repeated_token_is_served_from_the_cache(client: AtlasClient) -> None:
    org_id = await client.create_org()
    robot = await client.as_service_account(org_id, ["ORG_READ_ONLY"])
    token = robot.headers["Authorization"].removeprefix("Bearer ")
    assert caches(client).principal(token) is None
    assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 200
    cached = caches(client).principal(token)
    assert cached is not None
    assert cached.principal.org_roles == frozenset({"ORG_READ_ONLY"})
    assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 200


async def test_a_cached_token_still_expires_by_the_clock(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()
    robot = await client.as_service_account(org_id, ["ORG_READ_ONLY"])
    assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 200
    clock.advance(seconds=3599)
    assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 200
    clock.advance(seconds=1)
    assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 401


async def test_revoking_a_cached_token_applies_on_the_next_request(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await client.add_account(org_id, ["ORG_READ_ONLY"])
    robot = client.anonymous()
    token = await robot.login(account.client_id, account.client_secret)
    assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 200
    revoked = await robot.post(
        "/api/oauth/revoke", data={"token": token}, headers=basic(account.client_id, account.client_secret)
    )
    assert revoked.status_code == 200
    assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 401


async def test_project_role_changes_apply_to_a_cached_token(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    robot = await client.as_service_account(org_id, ["ORG_MEMBER"])
    client_id = robot.account.client_id
    assert (await robot.get(f"{V2}/groups/{group_id}")).status_code == 401
    invited = await client.post(
        f"{V2}/groups/{group_id}/serviceAccounts/{client_id}:invite", json={"roles": ["GROUP_READ_ONLY"]}
    )
    assert invited.status_code == 200, invited.text
    assert (await robot.get(f"{V2}/groups/{group_id}")).status_code == 200
    removed = await client.delete(f"{V2}/groups/{group_id}/serviceAccounts/{client_id}")
    assert removed.status_code == 204, removed.text
    assert (await robot.get(f"{V2}/groups/{group_id}")).status_code == 401


async def test_access_list_changes_apply_to_a_cached_token(client: AtlasClient) -> None:
    org_id = await client.create_org()
    robot = await client.as_service_account(org_id, ["ORG_READ_ONLY"])
    path = f"{V2}/orgs/{org_id}/serviceAccounts/{robot.account.client_id}/accessList"
    assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 200
    added = await client.post(path, json=[{"cidrBlock": "198.51.100.0/24"}])
    assert added.status_code == 200, added.text
    refused = await robot.get(f"{V2}/orgs/{org_id}")
    assert refused.status_code == 403
    assert refused.json()["errorCode"] == "IP_ADDRESS_NOT_ON_ACCESS_LIST"
    assert (await client.delete(f"{path}/198.51.100.0%2F24")).status_code == 204
    assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 200


async def test_an_org_setting_written_directly_applies_to_a_cached_token(client: AtlasClient, db: Database) -> None:
    org_id = await client.create_org()
    robot = await client.as_service_account(org_id, ["ORG_READ_ONLY"])
    assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 200
    async with db.unit_of_work() as session:
        org = await session.get(Organization, org_id)
        assert org is not None
        org.api_access_list_required = True
    refused = await robot.get(f"{V2}/orgs/{org_id}")
    assert refused.status_code == 403
    assert refused.json()["errorCode"] == "ORG_REQUIRES_ACCESS_LIST"


async def test_a_cached_client_sees_new_and_deleted_secrets(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await client.add_account(org_id, ["ORG_READ_ONLY"])
    robot = client.anonymous()
    await robot.token_for(account.client_id, account.client_secret)  # the client is now cached
    path = f"{V2}/orgs/{org_id}/serviceAccounts/{account.client_id}/secrets"
    created = await client.post(path, json={"secretExpiresAfterHours": 24})
    assert created.status_code == 201, created.text
    second = created.json()
    await robot.token_for(account.client_id, second["secret"])
    assert (await client.delete(f"{path}/{second['id']}")).status_code == 204
    refused = await robot.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=basic(account.client_id, second["secret"])
    )
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


async def test_concurrent_mints_are_distinct_and_committed(client: AtlasClient, db: Database) -> None:
    org_id = await client.create_org()
    account = await client.add_account(org_id, ["ORG_READ_ONLY"])
    robot = client.anonymous()
    tokens = await asyncio.gather(*(robot.token_for(account.client_id, account.client_secret) for _ in range(30)))
    assert len(set(tokens)) == 30
    # The bootstrap owner's token and these 30, every one a committed row.
    assert await count(db, AccessToken) == 31
    for token in tokens[:3]:
        robot.use_token(token)
        assert (await robot.get(f"{V2}/orgs/{org_id}")).status_code == 200


async def test_the_token_cap_revokes_a_cached_oldest_token(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()
    account = await client.add_account(org_id, ["ORG_READ_ONLY"])
    oldest = client.anonymous()
    await oldest.login(account.client_id, account.client_secret)
    assert (await oldest.get(f"{V2}/orgs/{org_id}")).status_code == 200  # cached
    clock.advance(seconds=1)
    minter = client.anonymous()
    for _ in range(99):
        await minter.token_for(account.client_id, account.client_secret)
    assert (await oldest.get(f"{V2}/orgs/{org_id}")).status_code == 200  # 100 tokens: still within the cap
    await minter.token_for(account.client_id, account.client_secret)
    response = await oldest.get(f"{V2}/orgs/{org_id}")
    assert response.status_code == 401


async def test_the_token_cap_keeps_the_newest_within_one_second(client: AtlasClient) -> None:
    """``issued_at`` has second precision: tokens minted within one second are ordered by their time-ordered jti,
    so the cap never revokes the token it has just minted."""
    org_id = await client.create_org()
    account = await client.add_account(org_id, ["ORG_READ_ONLY"])
    minter = client.anonymous()
    tokens = [await minter.token_for(account.client_id, account.client_secret) for _ in range(103)]
    for token, expected in ((tokens[-1], 200), (tokens[3], 200), (tokens[2], 401), (tokens[0], 401)):
        minter.use_token(token)
        assert (await minter.get(f"{V2}/orgs/{org_id}")).status_code == expected


async def test_concurrent_reads_each_count_on_the_access_list(client: AtlasClient) -> None:
    """Read requests' counts are group-committed, and each is in the database before its request is answered."""
    org_id = await client.create_org()
    robot = await client.as_service_account(org_id, ["ORG_READ_ONLY"])
    path = f"{V2}/orgs/{org_id}/serviceAccounts/{robot.account.client_id}/accessList"
    added = await client.post(path, json=[{"cidrBlock": "203.0.113.0/24"}])  # the test client's network
    assert added.status_code == 200, added.text
    responses = await asyncio.gather(*(robot.get(f"{V2}/orgs/{org_id}") for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    listed = (await client.get(path)).json()["results"]
    assert [(e["cidrBlock"], e["requestCount"], e["lastUsedAddress"]) for e in listed] == [
        ("203.0.113.0/24", 20, "203.0.113.7")
    ]
