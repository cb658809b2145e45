"""The 200-accounts-per-organization limit, under concurrent creates on both databases."""

from __future__ import annotations

import asyncio

from atlas_sa.service_accounts.service import MAX_SERVICE_ACCOUNTS_PER_ORG
from tests.service_accounts.support import assert_error, group_accounts, group_body, org_accounts, org_body, org_total
from tests.support.client import AtlasClient

CONCURRENT = 30
HEADROOM = 10


async def test_limit_holds_under_concurrent_creates(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    # Fill the organization to HEADROOM below the limit, counting what it already holds (a bootstrap account).
    existing = await org_total(client, org_id)
    for i in range(MAX_SERVICE_ACCOUNTS_PER_ORG - HEADROOM - existing):
        body = org_body(name=f"filler{i}", secretExpiresAfterHours=..., withoutInitialSecret=True)
        assert (await client.post(org_accounts(org_id), json=body)).status_code == 201
    assert await org_total(client, org_id) == MAX_SERVICE_ACCOUNTS_PER_ORG - HEADROOM

    # Half through the organization path, half through the project path: both count toward the same limit.
    requests = [
        client.post(org_accounts(org_id), json=org_body(name=f"racer{i}"))
        if i % 2
        else client.post(group_accounts(group_id), json=group_body(name=f"racer{i}"))
        for i in range(CONCURRENT)
    ]
    responses = await asyncio.gather(*requests)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * HEADROOM + [400] * (CONCURRENT - HEADROOM), statuses
    for response in responses:
        if response.status_code == 400:
            assert_error(response, 400, "MAX_SERVICE_ACCOUNTS_PER_ORG_EXCEEDED", [org_id, MAX_SERVICE_ACCOUNTS_PER_ORG])
    assert await org_total(client, org_id) == MAX_SERVICE_ACCOUNTS_PER_ORG

    assert_error(await client.post(org_accounts(org_id), json=org_body()), 400, "MAX_SERVICE_ACCOUNTS_PER_ORG_EXCEEDED")
    project_created = (await client.get(group_accounts(group_id))).json()["totalCount"]
    assert project_created <= HEADROOM
