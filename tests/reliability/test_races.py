"""Races: many concurrent requests against one account. Limits hold exactly, nothing is duplicated or lost, and
no request fails with a 500 — in one process on both backends, and across two server processes on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.reliability.test_crash_safety import ACCEPT, ENV, bootstrap
from tests.support.client import AtlasClient
from tests.support.server import live_server

SA_BODY = {"name": "racer", "description": "race", "roles": ["ORG_READ_ONLY"], "secretExpiresAfterHours": 24}


async def new_account(client: AtlasClient, org_id: str) -> str:
    response = await client.post(f"/api/atlas/v2/orgs/{org_id}/serviceAccounts", json=SA_BODY)
    assert response.status_code == 201, response.text
    client_id: str = response.json()["clientId"]
    return client_id


def statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


async def test_parallel_secret_creations_respect_the_limit(client: AtlasClient) -> None:
    org_id = await client.create_org()
    client_id = await new_account(client, org_id)
    path = f"/api/atlas/v2/orgs/{org_id}/serviceAccounts/{client_id}/secrets"
    responses = await asyncio.gather(*(client.post(path, json={"secretExpiresAfterHours": 12}) for _ in range(32)))
    assert statuses(responses) == {201: 1, 400: 31}, statuses(responses)
    assert {r.json()["errorCode"] for r in responses if r.status_code == 400} == {
        "MAX_SECRETS_PER_SERVICE_ACCOUNT_EXCEEDED"
    }
    account = (await client.get(f"/api/atlas/v2/orgs/{org_id}/serviceAccounts/{client_id}")).json()
    assert len(account["secrets"]) == 2


async def test_parallel_access_list_adds(client: AtlasClient) -> None:
    org_id = await client.create_org()
    client_id = await new_account(client, org_id)
    path = f"/api/atlas/v2/orgs/{org_id}/serviceAccounts/{client_id}/accessList"
    same = await asyncio.gather(*(client.post(path, json=[{"ipAddress": "198.51.100.9"}]) for _ in range(16)))
    assert statuses(same) == {200: 1, 409: 15}, statuses(same)
    first = await client.post(path, json=[{"cidrBlock": f"10.0.{i}.0/24"} for i in range(189)])
    assert first.status_code == 200, first.text
    distinct = await asyncio.gather(*(client.post(path, json=[{"cidrBlock": f"10.1.{i}.0/24"}]) for i in range(30)))
    assert statuses(distinct)[200] == 10, statuses(distinct)
    assert set(statuses(distinct)) <= {200, 400}
    listed = (await client.get(f"{path}?itemsPerPage=500")).json()
    blocks = [entry["cidrBlock"] for entry in listed["results"]]
    assert len(blocks) == 200
    assert len(set(blocks)) == 200


async def test_parallel_invites_leave_one_assignment(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    client_id = await new_account(client, org_id)
    role_sets = [["GROUP_READ_ONLY"], ["GROUP_OWNER"], ["GROUP_CLUSTER_MANAGER", "GROUP_READ_ONLY"]] * 8
    path = f"/api/atlas/v2/groups/{group_id}/serviceAccounts/{client_id}:invite"
    responses = await asyncio.gather(*(client.post(path, json={"roles": roles}) for roles in role_sets))
    assert statuses(responses) == {200: len(role_sets)}, statuses(responses)
    groups = (await client.get(f"/api/atlas/v2/orgs/{org_id}/serviceAccounts/{client_id}/groups")).json()
    assert [g["groupId"] for g in groups["results"]] == [group_id]
    assert sorted(groups["results"][0]["roles"]) in [sorted(r) for r in role_sets]


async def test_parallel_patches_of_different_fields_both_land(client: AtlasClient) -> None:
    org_id = await client.create_org()
    client_id = await new_account(client, org_id)
    path = f"/api/atlas/v2/orgs/{org_id}/serviceAccounts/{client_id}"
    names = [client.patch(path, json={"name": f"name {i}"}) for i in range(10)]
    descriptions = [client.patch(path, json={"description": f"description {i}"}) for i in range(10)]
    responses = await asyncio.gather(*names, *descriptions)
    assert statuses(responses) == {200: 20}
    final = (await client.get(path)).json()
    assert final["name"].startswith("name ")
    assert final["description"].startswith("description ")


@pytest.mark.slow
def test_two_instances_hold_the_account_limit_exactly(shared_postgres: str) -> None:
    credentials = bootstrap(shared_postgres)  # one account already: the bootstrap owner
    org = credentials["orgId"]
    # Instances behind one load balancer share one issuer: tokens name it, and every instance checks it.
    env = {**ENV, "ATLAS_SA_ISSUER": "http://atlas-sa.test"}
    with live_server(shared_postgres, env=env) as first, live_server(shared_postgres, env=env) as second:
        bearer = first.token(credentials["clientId"], credentials["clientSecret"])
        headers = {**ACCEPT, "Authorization": f"Bearer {bearer}"}

        async def fill() -> list[httpx.Response]:
            async with httpx.AsyncClient(headers=headers, timeout=60) as http:
                existing = (await http.get(f"{first.base_url}/api/atlas/v2/orgs/{org}/serviceAccounts")).json()
                missing = 190 - existing["totalCount"]
                for _ in range(missing):
                    made = await http.post(f"{first.base_url}/api/atlas/v2/orgs/{org}/serviceAccounts", json=SA_BODY)
                    assert made.status_code == 201, made.text
                bases = [first.base_url, second.base_url] * 20
                return await asyncio.gather(
                    *(http.post(f"{base}/api/atlas/v2/orgs/{org}/serviceAccounts", json=SA_BODY) for base in bases)
                )

        responses = asyncio.run(fill())
        counted = statuses(responses)
        assert counted[201] == 10, counted
        assert set(counted) <= {201, 400}, counted
        listed = httpx.get(
            f"{second.base_url}/api/atlas/v2/orgs/{org}/serviceAccounts?itemsPerPage=500", headers=headers, timeout=30
        ).json()
        assert listed["totalCount"] == 200
        assert len({a["clientId"] for a in listed["results"]}) == 200
