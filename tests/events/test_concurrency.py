"""Under concurrency, one event per change that happened: many identical writes at once, of which one changes
something and the others find nothing left to change (or are refused), record exactly one event."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.events.support import V2, Marker, reader_of
from tests.support.client import AtlasClient

N = 12
# The organization-settings rate limit allows 10 requests at once (Atlas: 10, refilled 5 a minute).
N_SETTINGS = 10
ACCOUNT = {"name": "racer", "description": "d", "roles": ["ORG_MEMBER"], "secretExpiresAfterHours": 24}


async def made_account(client: AtlasClient, org_id: str) -> dict[str, Any]:
    response = await client.post(f"{V2}/orgs/{org_id}/serviceAccounts", json=ACCOUNT)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


Send = Callable[[AtlasClient, str, str, dict[str, Any]], Awaitable[httpx.Response]]


async def delete_secret(client: AtlasClient, org_id: str, group_id: str, account: dict[str, Any]) -> httpx.Response:
    del group_id
    path = f"{V2}/orgs/{org_id}/serviceAccounts/{account['clientId']}/secrets/{account['secrets'][0]['id']}"
    return await client.delete(path)


async def delete_account(client: AtlasClient, org_id: str, group_id: str, account: dict[str, Any]) -> httpx.Response:
    del group_id
    return await client.delete(f"{V2}/orgs/{org_id}/serviceAccounts/{account['clientId']}")


async def rename(client: AtlasClient, org_id: str, group_id: str, account: dict[str, Any]) -> httpx.Response:
    del group_id
    return await client.patch(f"{V2}/orgs/{org_id}/serviceAccounts/{account['clientId']}", json={"name": "same"})


async def invite(client: AtlasClient, org_id: str, group_id: str, account: dict[str, Any]) -> httpx.Response:
    del org_id
    path = f"{V2}/groups/{group_id}/serviceAccounts/{account['clientId']}:invite"
    return await client.post(path, json={"roles": ["GROUP_READ_ONLY"]})


async def add_entry(client: AtlasClient, org_id: str, group_id: str, account: dict[str, Any]) -> httpx.Response:
    del group_id
    path = f"{V2}/orgs/{org_id}/serviceAccounts/{account['clientId']}/accessList"
    return await client.post(path, json=[{"ipAddress": "192.0.2.9"}])


async def settings(client: AtlasClient, org_id: str, group_id: str, account: dict[str, Any]) -> httpx.Response:
    del group_id, account
    return await client.patch(f"{V2}/orgs/{org_id}/settings", json={"maxServiceAccountSecretValidityInHours": 100})


async def create_project(client: AtlasClient, org_id: str, group_id: str, account: dict[str, Any]) -> httpx.Response:
    del group_id, account
    return await client.post(f"{V2}/groups", json={"name": "twin", "orgId": org_id})


async def delete_project(client: AtlasClient, org_id: str, group_id: str, account: dict[str, Any]) -> httpx.Response:
    del org_id, account
    return await client.delete(f"{V2}/groups/{group_id}")


CASES: list[tuple[Send, str, dict[int, int]]] = [
    (delete_secret, "SERVICE_ACCOUNT_SECRET_DELETED", {204: 1, 404: N - 1}),
    (delete_account, "SERVICE_ACCOUNT_DELETED", {204: 1, 404: N - 1}),
    (rename, "SERVICE_ACCOUNT_DETAILS_CHANGED", {200: N}),
    (invite, "SERVICE_ACCOUNT_ADDED_TO_GROUP", {200: N}),
    (add_entry, "SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED", {200: 1, 409: N - 1}),
    (settings, "ORG_SERVICE_ACCOUNT_MAX_SECRET_VALIDITY_EDITED", {200: N_SETTINGS}),
    (create_project, "GROUP_CREATED", {200: 1, 409: N - 1}),
    (delete_project, "GROUP_DELETED", {204: 1, 404: N - 1}),
]


@pytest.mark.parametrize(("send", "event_type", "statuses"), CASES, ids=[c[1] for c in CASES])
async def test_identical_writes_at_once_record_one_event(
    client: AtlasClient, send: Send, event_type: str, statuses: dict[int, int]
) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await made_account(client, org_id)
    marker = await Marker.now(reader_of(client), org_id)

    times = sum(statuses.values())
    responses = await asyncio.gather(*(send(client, org_id, group_id, account) for _ in range(times)))

    assert Counter(r.status_code for r in responses) == statuses, [r.text for r in responses]
    assert [e["eventTypeName"] for e in await marker.since()] == [event_type]
