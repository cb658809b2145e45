"""Digest through the whole application: every ``/api/atlas/v2`` route accepts an API key's Digest credential."""

from __future__ import annotations

import httpx
import pytest

from atlas_sa.auth.digest import NONCE_TTL_SECONDS
from atlas_sa.kit.clock import FrozenClock
from tests.auth.digest.helpers import DigestFields, parse_challenge, seed_api_key
from tests.support.client import AtlasClient


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
async def test_handshake_on_a_real_route(client: AtlasClient, clock: FrozenClock, algorithm: str) -> None:
    org_id = await client.create_org()
    public, private = await seed_api_key(client.state.db, client.state.keys, clock, org_id, ("ORG_READ_ONLY",))
    caller = client.anonymous()
    path = f"/api/atlas/v2/orgs/{org_id}"

    first = await caller.get(path)
    assert first.status_code == 401
    assert first.json()["errorCode"] == "UNAUTHORIZED"
    nonce = parse_challenge(first.headers["www-authenticate"])["nonce"]

    fields = DigestFields(public, private, nonce, path, algorithm=algorithm)
    response = await caller.get(path, headers={"Authorization": fields.header()})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == org_id

    # The same credential replayed is refused; a later count on the same nonce is not.
    replay = await caller.get(path, headers={"Authorization": fields.header()})
    assert replay.status_code == 401
    assert parse_challenge(replay.headers["www-authenticate"])["stale"] == "true"
    fields.nc, fields.cnonce = "00000002", ""
    assert (await caller.get(path, headers={"Authorization": fields.header()})).status_code == 200

    clock.advance(seconds=NONCE_TTL_SECONDS + 1)
    fields.nc, fields.cnonce = "00000003", ""
    stale = await caller.get(path, headers={"Authorization": fields.header()})
    assert stale.status_code == 401
    assert parse_challenge(stale.headers["www-authenticate"])["stale"] == "true"


async def test_api_key_cannot_reach_another_organization(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org("mine")
    assert client.credentials is not None
    other = client.anonymous()
    theirs = await other.create_org("theirs")
    caller = client.anonymous()
    caller.auth = httpx.DigestAuth(client.credentials.public_key, client.credentials.private_key)
    assert (await caller.get(f"/api/atlas/v2/orgs/{org_id}")).status_code == 200
    response = await caller.get(f"/api/atlas/v2/orgs/{theirs}")
    assert response.status_code == 401
    assert response.json()["errorCode"] == "USER_UNAUTHORIZED"


async def test_wrong_private_key_on_a_real_route(client: AtlasClient) -> None:
    org_id = await client.create_org()
    assert client.credentials is not None
    caller = client.anonymous()
    caller.auth = httpx.DigestAuth(client.credentials.public_key, "00000000-0000-4000-8000-000000000000")
    response = await caller.get(f"/api/atlas/v2/orgs/{org_id}")
    assert response.status_code == 401
    assert response.json()["errorCode"] == "UNAUTHORIZED"
    assert parse_challenge(response.headers["www-authenticate"])["stale"] == "false"
