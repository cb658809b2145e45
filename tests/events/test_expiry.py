"""The expiry watch on the injected clock: each transition of a secret (into the warning window, expired, and out
of either state when deleted or replaced) is one organization event, however often the watch runs; events older
than the retention are purged; on PostgreSQL, two instances' watches report each transition once.

The tests act with the organization's API key (Digest), which the moving clock does not expire as it does tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from atlas_sa.events.expiry import EventWatch, event_watch
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from tests.events.support import V2, org_events, reader_of
from tests.support.client import AtlasClient

EXPIRING = "ORG_SERVICE_ACCOUNT_SECRETS_EXPIRING"
EXPIRED = "ORG_SERVICE_ACCOUNT_SECRETS_EXPIRED"
NO_LONGER_EXPIRING = "ORG_SERVICE_ACCOUNT_SECRETS_NO_LONGER_EXPIRING"
NO_LONGER_EXPIRED = "ORG_SERVICE_ACCOUNT_SECRETS_NO_LONGER_EXPIRED"
EXPIRY_TYPES = [EXPIRING, EXPIRED, NO_LONGER_EXPIRING, NO_LONGER_EXPIRED]


@dataclass(frozen=True)
class Org:
    """An organization, and a client acting with its API key (which the moving clock does not expire)."""

    id: str
    key: AtlasClient


@pytest.fixture
async def org(client: AtlasClient) -> Org:
    org_id = await client.create_org()
    return Org(org_id, reader_of(client))  # the owner's secret: a year


async def account(client: AtlasClient, org_id: str, hours: int, name: str = "robot") -> dict[str, Any]:
    body = {"name": name, "description": "d", "roles": ["ORG_MEMBER"], "secretExpiresAfterHours": hours}
    response = await client.post(f"{V2}/orgs/{org_id}/serviceAccounts", json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def expiry_events(client: AtlasClient, org_id: str) -> list[dict[str, Any]]:
    """The organization's expiry events, oldest first."""
    events = await org_events(client, org_id, eventType=EXPIRY_TYPES)
    return list(reversed(events))


async def runs(watch: EventWatch, times: int = 1) -> int:
    """Runs the watch; the events it recorded."""
    recorded = 0
    for _ in range(times):
        run = await watch.run_once()
        assert run is not None
        recorded += run.events
    return recorded


async def test_each_transition_once(client: AtlasClient, clock: FrozenClock, org: Org) -> None:
    org_id, key = org.id, org.key
    watch = event_watch(client.state)
    made = await account(key, org_id, 30 * 24)  # 30 days
    client_id, secret_id = made["clientId"], made["secrets"][0]["id"]
    assert await runs(watch, 2) == 0

    clock.advance(days=23, seconds=-1)  # 7 days and 1 second left: outside the window
    assert await runs(watch) == 0
    clock.advance(seconds=1)  # exactly 7 days left: inside
    assert await runs(watch, 3) == 1
    clock.advance(days=7, seconds=-1)  # one second left
    assert await runs(watch) == 0
    clock.advance(seconds=1)  # expires now
    assert await runs(watch, 3) == 1
    deleted = await key.delete(f"{V2}/orgs/{org_id}/serviceAccounts/{client_id}/secrets/{secret_id}")
    assert deleted.status_code == 204
    assert await runs(watch, 3) == 1

    events = await expiry_events(key, org_id)
    assert [e["eventTypeName"] for e in events] == [EXPIRING, EXPIRED, NO_LONGER_EXPIRED]
    for event in events:
        assert event["orgId"] == org_id
        assert event["raw"]["clientId"] == client_id
        assert event["raw"]["secretId"] == secret_id
        assert event["raw"]["expiresAt"] == "2026-02-14T12:00:00Z"
        # Nobody acted: the server noticed.
        for absent in ("groupId", "userId", "username", "apiKeyId", "publicKey", "remoteAddress"):
            assert absent not in event
    assert [e["created"] for e in events] == ["2026-02-07T12:00:00Z", "2026-02-14T12:00:00Z", "2026-02-14T12:00:00Z"]


async def test_leaving_the_window_when_the_account_goes(client: AtlasClient, clock: FrozenClock, org: Org) -> None:
    org_id, key = org.id, org.key
    watch = event_watch(client.state)
    made = await account(key, org_id, 48)  # inside the window from the start
    assert await runs(watch) == 1
    deleted = await key.delete(f"{V2}/orgs/{org_id}/serviceAccounts/{made['clientId']}")
    assert deleted.status_code == 204
    clock.advance(days=3)  # past the expiry it no longer has
    assert await runs(watch, 2) == 1
    assert [e["eventTypeName"] for e in await expiry_events(key, org_id)] == [EXPIRING, NO_LONGER_EXPIRING]


async def test_a_replaced_secret(client: AtlasClient, clock: FrozenClock, org: Org) -> None:
    """Rotation: a new secret brings the old one within 7 days (Atlas's rule), so the old one is expiring; once it
    is deleted, the account's secrets are no longer expiring."""
    org_id, key = org.id, org.key
    watch = event_watch(client.state)
    made = await account(key, org_id, 90 * 24)
    client_id, old_id = made["clientId"], made["secrets"][0]["id"]
    assert await runs(watch) == 0
    clock.advance(days=1)
    rotated = await key.post(
        f"{V2}/orgs/{org_id}/serviceAccounts/{client_id}/secrets", json={"secretExpiresAfterHours": 90 * 24}
    )
    assert rotated.status_code == 201
    assert await runs(watch) == 1
    deleted = await key.delete(f"{V2}/orgs/{org_id}/serviceAccounts/{client_id}/secrets/{old_id}")
    assert deleted.status_code == 204
    assert await runs(watch) == 1
    events = await expiry_events(key, org_id)
    assert [(e["eventTypeName"], e["raw"]["secretId"]) for e in events] == [
        (EXPIRING, old_id),
        (NO_LONGER_EXPIRING, old_id),
    ]


async def test_expired_unseen_is_reported_expired_only(client: AtlasClient, clock: FrozenClock, org: Org) -> None:
    org_id, key = org.id, org.key
    watch = event_watch(client.state)
    await account(key, org_id, 10 * 24)
    clock.advance(days=11)  # the watch did not run while it was expiring
    assert await runs(watch, 2) == 1
    assert [e["eventTypeName"] for e in await expiry_events(key, org_id)] == [EXPIRED]


async def test_the_window_is_a_setting(client: AtlasClient, clock: FrozenClock, org: Org) -> None:
    org_id, key = org.id, org.key
    await account(key, org_id, 48)
    narrow = EventWatch(client.state.db, clock, warning=timedelta(days=1), retention=timedelta(days=730))
    assert await runs(narrow) == 0
    clock.advance(days=1)  # one day left
    assert await runs(narrow) == 1
    none = EventWatch(client.state.db, clock, warning=timedelta(0), retention=timedelta(days=730))
    assert await runs(none) == 1  # the narrower window: it is no longer reported as expiring
    assert [e["eventTypeName"] for e in await expiry_events(key, org_id)] == [EXPIRING, NO_LONGER_EXPIRING]


async def test_retention(client: AtlasClient, clock: FrozenClock, org: Org) -> None:
    org_id, key = org.id, org.key  # three events at the epoch
    watch = EventWatch(client.state.db, clock, warning=timedelta(0), retention=timedelta(days=730))
    clock.advance(days=1)
    await key.create_project(org_id)  # one a day later
    clock.advance(days=729)  # the first three are exactly 730 days old: kept
    run = await watch.run_once()
    assert run is not None
    assert run.purged == 0
    clock.advance(seconds=1)
    run = await watch.run_once()
    assert run is not None
    assert run.purged == 3
    remaining = [e["eventTypeName"] for e in await org_events(key, org_id) if e["eventTypeName"] not in EXPIRY_TYPES]
    assert remaining == ["GROUP_CREATED"]


@dataclass(frozen=True)
class TwoInstances:
    """The expiry watches of two instances, each with its own connection pool on one PostgreSQL database."""

    one: EventWatch
    two: EventWatch


@pytest.fixture
async def instances(
    client: AtlasClient, clock: FrozenClock, database_url: str, postgresql_url: str
) -> AsyncIterator[TwoInstances]:
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances share PostgreSQL")
    one = event_watch(client.state)
    other = Database(postgresql_url)
    try:
        yield TwoInstances(one, EventWatch(other, clock, warning=one.warning, retention=one.retention))
    finally:
        await other.dispose()


async def test_two_instances_report_each_transition_once(instances: TwoInstances, clock: FrozenClock, org: Org) -> None:
    org_id, key = org.id, org.key
    made = await account(key, org_id, 30 * 24)

    async def both(times: int = 4) -> None:
        one, two = instances.one, instances.two
        for _ in range(times):
            await asyncio.gather(one.run_once(), two.run_once(), one.run_once(), two.run_once())

    clock.advance(days=23)
    await both()
    clock.advance(days=7)
    await both()
    deleted = await key.delete(
        f"{V2}/orgs/{org_id}/serviceAccounts/{made['clientId']}/secrets/{made['secrets'][0]['id']}"
    )
    assert deleted.status_code == 204
    await both()
    assert [e["eventTypeName"] for e in await expiry_events(key, org_id)] == [
        EXPIRING,
        EXPIRED,
        NO_LONGER_EXPIRED,
    ]


async def test_one_instance_at_a_time(instances: TwoInstances, client: AtlasClient, org: Org) -> None:
    one, two = instances.one, instances.two
    await account(org.key, org.id, 48)
    async with client.state.db.unit_of_work() as session:
        assert await one._lock(session)  # instance one is running
        assert await two.run_once() is None  # so two skips this run
    assert await runs(two) == 1
    assert await runs(one) == 0
    assert [e["eventTypeName"] for e in await expiry_events(org.key, org.id)] == [EXPIRING]
