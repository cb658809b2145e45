"""Every routine write drops the cached state of what it changed and nothing else (atlas_sa.changes): after a change to
one account, another account's cached token, client and rendered read are still served from memory, while the
changed account's are gone. Across instances the same keys travel through PostgreSQL (last test here, and
tests/reliability/test_instances.py with two servers)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterable
from urllib.parse import quote

import pytest
from sqlalchemy import update

from atlas_sa.auth.cache import AuthCaches
from atlas_sa.changes import EVERYTHING, account_key, follow
from atlas_sa.kit.db import Database
from atlas_sa.kit.events import InvalidationBus
from atlas_sa.models import ServiceAccountSecret
from atlas_sa.service_accounts.endpoints import SA_VERSION
from atlas_sa.service_accounts.views import ViewCache
from atlas_sa.settings import Settings
from tests.kit.test_fastpath import statements
from tests.support.client import Account, AtlasClient, basic
from tests.support.settings import settings_on

V2 = "/api/atlas/v2"
BLOCK = "198.51.100.0/24"  # not the test client's network: an account with it is refused, which is the point
OPERATIONS = [
    "delete secret",
    "add secret",  # caps the expiry of the account's other secrets: a bulk UPDATE
    "delete account",
    "remove from project",
    "delete project",
    "add to access list",
    "delete from access list",
    "change roles",
    "rename",
    "revoke a token",
    "change its organization's settings",
]


@pytest.fixture
def settings(database_url: str) -> Settings:
    # On PostgreSQL a rate-limited read writes its bucket; without limits a cached read touches no database at all.
    return settings_on(database_url, rate_limits_enabled=False)


def caches(client: AtlasClient) -> AuthCaches:
    found: AuthCaches = client.app.state.auth.caches
    return found


def views(client: AtlasClient) -> ViewCache:
    found: ViewCache = client.app.state.views
    return found


def account_url(account: Account) -> str:
    return f"{V2}/orgs/{account.org_id}/serviceAccounts/{account.client_id}"


async def change(client: AtlasClient, operation: str, a: Account, token: str, group_id: str) -> None:
    """``operation`` on account ``a`` (``token`` is one of its tokens, ``group_id`` a project it is assigned to)."""
    url = account_url(a)
    match operation:
        case "delete secret":
            made = await client.post(f"{url}/secrets", json={"secretExpiresAfterHours": 24})
            assert made.status_code == 201, made.text
            response = await client.delete(f"{url}/secrets/{made.json()['id']}")
        case "add secret":
            response = await client.post(f"{url}/secrets", json={"secretExpiresAfterHours": 24})
        case "delete account":
            response = await client.delete(url)
        case "remove from project":
            response = await client.delete(f"{V2}/groups/{group_id}/serviceAccounts/{a.client_id}")
        case "delete project":
            response = await client.delete(f"{V2}/groups/{group_id}")
        case "add to access list":
            response = await client.post(f"{url}/accessList", json=[{"cidrBlock": BLOCK}])
        case "delete from access list":
            response = await client.delete(f"{url}/accessList/{quote(BLOCK, safe='')}")
        case "change roles":
            response = await client.patch(url, json={"roles": ["ORG_READ_ONLY"]})
        case "rename":
            response = await client.patch(url, json={"name": "renamed"})
        case "revoke a token":
            response = await client.post(
                "/api/oauth/revoke", data={"token": token}, headers=basic(a.client_id, a.client_secret)
            )
        case "change its organization's settings":
            response = await client.patch(f"{V2}/orgs/{a.org_id}/settings", json={"apiAccessListRequired": True})
    assert response.status_code in (200, 201, 204), response.text


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_a_change_to_one_account_leaves_every_other_cached(
    client: AtlasClient, db: Database, operation: str
) -> None:
    org_id = await client.create_org()
    other_org = client.anonymous()
    other_org_id = await other_org.create_org("other")
    group_a = await client.create_project(org_id, "a")
    group_b = await client.create_project(org_id, "b")
    a = await client.add_account(org_id, ["ORG_MEMBER"], {group_a: ["GROUP_READ_ONLY"]}, name="a")
    b = await client.add_account(org_id, ["ORG_MEMBER"], {group_b: ["GROUP_READ_ONLY"]}, name="b")
    if operation == "delete from access list":
        added = await client.post(f"{account_url(a)}/accessList", json=[{"cidrBlock": BLOCK}])
        assert added.status_code == 200, added.text
    robot_a, robot_b = client.anonymous(), client.anonymous()
    token_a = await robot_a.login(a.client_id, a.client_secret)
    token_b = await robot_b.login(b.client_id, b.client_secret)  # B's client is cached by its login
    token_other = other_org.headers["Authorization"].removeprefix("Bearer ")
    for robot, path in (
        (robot_a, f"/orgs/{org_id}"),
        (robot_b, f"/orgs/{org_id}"),
        (other_org, f"/orgs/{other_org_id}"),
    ):
        assert (await robot.get(f"{V2}{path}")).status_code in (200, 403)
    for account in (a, b):
        for _ in range(2):  # the second read is the view cache's
            assert (await client.get(account_url(account))).status_code == 200

    await change(client, operation, a, token_a, group_a)

    assert caches(client).principal(token_a) is None, "the changed account's token is dropped"
    if operation != "revoke a token":  # a token is not part of the account's answer
        assert views(client).view((org_id, a.client_id, SA_VERSION)) is None
    assert caches(client).principal(token_other) is not None, "another organization's token stays"
    if operation == "change its organization's settings":
        # The organization changed: every token of it goes (its setting is part of their access rules).
        assert caches(client).principal(token_b) is None
        return
    assert caches(client).principal(token_b) is not None, "another account's token stays"
    assert caches(client).client(b.client_id) is not None, "another account's client stays"
    with statements(db) as seen:
        read = await client.get(account_url(b))
    assert read.status_code == 200
    assert seen == [], "another account's read is still the view cache's: no query, no token check"


async def test_an_administrative_bulk_write_naming_nothing_drops_everything(client: AtlasClient, db: Database) -> None:
    """The fallback for a write that cannot name what it changed (here a bare ``UPDATE`` with no keys)."""
    org_id = await client.create_org()
    token = client.headers["Authorization"].removeprefix("Bearer ")
    assert (await client.get(f"{V2}/orgs/{org_id}")).status_code == 200
    assert caches(client).principal(token) is not None
    async with db.unit_of_work() as session:
        await session.execute(update(ServiceAccountSecret).values(last_used_at=None))
    assert caches(client).principal(token) is None


class _Heard:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.arrived = asyncio.Event()

    def invalidate(self, keys: Iterable[str]) -> None:
        self.keys.extend(keys)
        if EVERYTHING not in self.keys:
            self.arrived.set()


async def test_another_instance_hears_only_the_changed_accounts_keys(client: AtlasClient, database_url: str) -> None:
    """What a second instance's bus receives for a routine delete: the account's key, not "everything" (on SQLite, by
    the change log: another process, the operator's CLI for one, is heard the same way)."""
    org_id = await client.create_org()
    a = await client.add_account(org_id, ["ORG_MEMBER"], name="a")
    made = await client.post(f"{account_url(a)}/secrets", json={"secretExpiresAfterHours": 24})
    assert made.status_code == 201, made.text
    other = Database(database_url)
    bus = InvalidationBus(other)
    heard = _Heard()
    follow(bus, heard)
    await bus.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), 5)
        assert heard.keys == [EVERYTHING], "a fresh listener starts from empty caches"
        heard.keys.clear()
        deleted = await client.delete(f"{account_url(a)}/secrets/{made.json()['id']}")
        assert deleted.status_code == 204, deleted.text
        await asyncio.wait_for(heard.arrived.wait(), 1.0)
        assert heard.keys == [account_key(a.account_id)]
    finally:
        await bus.stop()
        await other.dispose()


@pytest.mark.parametrize(
    "module", ["atlas_sa.org_settings.service", "atlas_sa.orgs.service", "atlas_sa.projects.service"]
)
def test_a_process_that_writes_names_its_changes(module: str) -> None:
    """The session hooks are registered in any process that can write, not only in the server: a command that changes
    an organization's settings must tell the running instances too."""
    code = f"import sys, {module}; print('atlas_sa.changes' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert found.stdout.strip() == "True"
