"""Access-list enforcement through the whole application: a service account's access list, edited over the API,
decides where its bearer tokens work, and the list reports what was used."""

from __future__ import annotations

import httpx

from atlas_sa.kit.clock import FrozenClock, isoformat
from tests.support.client import AtlasClient

LISTED_PEER = "203.0.113.7"  # the address the ``client`` fixture's requests come from


def connect_from(client: AtlasClient, peer: str) -> AtlasClient:
    transport = httpx.ASGITransport(app=client.app, client=(peer, 40000))
    return AtlasClient(app=client.app, transport=transport, base_url="http://atlas.test")


async def test_tokens_work_only_from_listed_addresses(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()
    account = await client.add_account(org_id, roles=("ORG_MEMBER",))
    access_list = f"/api/atlas/v2/orgs/{org_id}/serviceAccounts/{account.client_id}/accessList"
    response = await client.post(access_list, json=[{"ipAddress": LISTED_PEER}, {"cidrBlock": "2001:db8::/32"}])
    assert response.status_code == 200, response.text
    org_path = f"/api/atlas/v2/orgs/{org_id}"

    async with (
        connect_from(client, LISTED_PEER) as listed,
        connect_from(client, "198.51.100.9") as unlisted,
        connect_from(client, "2001:db8::5") as listed_v6,
    ):
        for caller in (listed, unlisted, listed_v6):
            # The token endpoint itself is not IP-restricted.
            await caller.login(account.client_id, account.client_secret)
        assert (await listed.get(org_path)).status_code == 200
        assert (await listed_v6.get(org_path)).status_code == 200
        clock.advance(minutes=1)
        assert (await listed.get(org_path)).status_code == 200
        response = await unlisted.get(org_path)
        assert response.status_code == 403
        assert response.json()["errorCode"] == "IP_ADDRESS_NOT_ON_ACCESS_LIST"
        assert response.json()["parameters"] == ["198.51.100.9"]

    entries = {e["cidrBlock"]: e for e in (await client.get(access_list)).json()["results"]}
    single = entries[f"{LISTED_PEER}/32"]
    assert single["requestCount"] == 2
    assert single["lastUsedAddress"] == LISTED_PEER
    assert single["lastUsedAt"] == isoformat(clock.now())
    block = entries["2001:db8:0:0:0:0:0:0/32"]
    assert block["requestCount"] == 1
    assert block["lastUsedAddress"] == "2001:db8:0:0:0:0:0:5"


async def test_org_requirement_denies_accounts_without_a_list(client: AtlasClient) -> None:
    org_id = await client.create_org()
    member = await client.as_service_account(org_id, roles=("ORG_MEMBER",))
    assert member.account is not None
    org_path = f"/api/atlas/v2/orgs/{org_id}"
    response = await client.patch(f"{org_path}/settings", json={"apiAccessListRequired": True})
    assert response.status_code == 200
    response = await member.get(org_path)
    assert response.status_code == 403
    assert response.json()["errorCode"] == "ORG_REQUIRES_ACCESS_LIST"
    assert response.json()["parameters"] == [LISTED_PEER]
