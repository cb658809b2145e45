"""Atlas's private endpoints as the official clients call them, over real HTTP: ``/api/private/ipinfo`` and the two
telemetry endpoints (mongodb-atlas-cli ``internal/store/ip_info.go``, ``internal/store/telemetry.go``;
mongodb-mcp-server ``src/common/atlas/apiClient.ts``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from atlas_sa.app import create_app
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.models import Base, RateLimitBucket
from atlas_sa.settings import Settings
from tests.support.client import AtlasClient, ClientFactory
from tests.support.rows import count

IPINFO = "/api/private/ipinfo"
EVENTS = "/api/private/v1.0/telemetry/events"
UNAUTH_EVENTS = "/api/private/unauth/telemetry/events"
# What both clients send: plain JSON, no Atlas version.
PLAIN = {"Accept": "application/json", "Content-Type": "application/json"}
# The shape the CLI's tracker and the MCP server send: a JSON array of events.
EVENT_BATCH = json.dumps(
    [{"timestamp": "2026-01-15T12:00:00Z", "source": "atlascli", "properties": {"command": "auth login"}}]
)


async def stored(db: Database) -> dict[type[Base], int]:
    """Rows per table, but the rate-limit buckets: an authenticated request takes a token from its credential's
    bucket (a row on PostgreSQL), which is the rate limit at work, not the events being kept."""
    return {table: await count(db, table) for table in Base.__subclasses__() if table is not RateLimitBucket}


def app_with(settings: Settings, clock: FrozenClock, db: Database, **changes: object) -> FastAPI:
    return create_app(settings.model_copy(update=changes), clock=clock, database=db)


async def test_ipinfo_answers_the_callers_address(client: AtlasClient) -> None:
    await client.create_org()
    response = await client.get(IPINFO, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"currentIpv4Address": "203.0.113.7"}


async def test_ipinfo_takes_a_digest_api_key(client: AtlasClient) -> None:
    await client.create_org()
    assert client.credentials is not None
    caller = client.anonymous()
    caller.auth = httpx.DigestAuth(client.credentials.public_key, client.credentials.private_key)
    response = await caller.get(IPINFO, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json() == {"currentIpv4Address": "203.0.113.7"}


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
async def test_ipinfo_needs_a_credential(client: AtlasClient, authorization: str | None) -> None:
    headers = {"Accept": "application/json"} | ({"Authorization": authorization} if authorization else {})
    response = await client.anonymous().get(IPINFO, headers=headers)
    assert response.status_code == 401
    assert response.json()["errorCode"] == "UNAUTHORIZED"
    assert "currentIpv4Address" not in response.text


@pytest.mark.parametrize(
    ("peer", "trusted", "forwarded", "expected"),
    [
        # Behind a trusted proxy, the address it reports; from anyone else, the socket peer.
        ("10.0.0.1", ["10.0.0.0/8"], "192.0.2.44", "192.0.2.44"),
        ("198.51.100.9", ["10.0.0.0/8"], "192.0.2.44", "198.51.100.9"),
        ("10.0.0.1", [], "192.0.2.44", "10.0.0.1"),
        # An IPv6 caller gets its address in the form access-list entries are written in.
        ("2001:db8::7", [], None, "2001:db8:0:0:0:0:0:7"),
    ],
)
async def test_ipinfo_reports_the_address_access_lists_judge(
    client: AtlasClient,
    connect: ClientFactory,
    settings: Settings,
    clock: FrozenClock,
    db: Database,
    peer: str,
    trusted: list[str],
    forwarded: str | None,
    expected: str,
) -> None:
    await client.create_org()
    caller = connect(app_with(settings, clock, db, trusted_proxies=trusted), peer)
    caller.headers["Authorization"] = client.headers["Authorization"]
    headers = {"Accept": "application/json"} | ({"X-Forwarded-For": forwarded} if forwarded else {})
    response = await caller.get(IPINFO, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"currentIpv4Address": expected}


async def test_authenticated_telemetry_is_accepted_and_discarded(client: AtlasClient, db: Database) -> None:
    await client.create_org()
    before = await stored(db)
    response = await client.post(EVENTS, content=EVENT_BATCH, headers=PLAIN)
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert await stored(db) == before


async def test_authenticated_telemetry_without_a_credential_is_401(client: AtlasClient) -> None:
    """The MCP server sends its events to the unauthenticated endpoint after a 401 here."""
    response = await client.anonymous().post(EVENTS, content=EVENT_BATCH, headers=PLAIN)
    assert response.status_code == 401
    assert response.json()["errorCode"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "body",
    [EVENT_BATCH, "", "not json at all", json.dumps({"unexpected": "shape"})],
    ids=["batch", "empty", "junk", "obj"],
)
async def test_unauthenticated_telemetry_is_accepted_and_discarded(
    client: AtlasClient, db: Database, body: str
) -> None:
    before = await stored(db)
    response = await client.anonymous().post(UNAUTH_EVENTS, content=body, headers=PLAIN)
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert await stored(db) == before


@pytest.mark.parametrize("path", [EVENTS, UNAUTH_EVENTS])
@pytest.mark.parametrize("streamed", [False, True], ids=["declared", "streamed"])
async def test_telemetry_bodies_are_held_to_the_body_limit(
    client: AtlasClient,
    connect: ClientFactory,
    settings: Settings,
    clock: FrozenClock,
    db: Database,
    path: str,
    streamed: bool,
) -> None:
    await client.create_org()
    caller = connect(app_with(settings, clock, db, max_body_bytes=1024))
    caller.headers["Authorization"] = client.headers["Authorization"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 512

    content: bytes | AsyncIterator[bytes] = chunks() if streamed else b" " * 4096
    response = await caller.post(path, content=content, headers=PLAIN)
    assert response.status_code == 413
    assert response.json()["errorCode"] == "PAYLOAD_TOO_LARGE"
