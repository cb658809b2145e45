"""Writes through a project path that change the account itself (name, description, access list, secrets) need the
caller's authority to cover what the account holds beyond the project (``authorize_account_change``); writes to its
membership of the project (its roles there, its removal) stay the project's.

The role table: every project role (and ``ORG_OWNER`` as the baseline), by every such write, by an account holding
nothing beyond the project, one holding each organization role, and one in a second project. A refused write is
401 ``USER_UNAUTHORIZED`` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from atlas_sa.identity.roles import ORG_ROLES, PROJECT_ROLES
from tests.service_accounts.support import (
    assert_error,
    create_group_account,
    create_org_account,
    group_account,
    org_account,
)
from tests.support.client import AtlasClient

SEEDED_ENTRY = "198.51.100.0/24"
# Accounts by what they hold beyond the project under test; only "project only" and "ORG_MEMBER" hold nothing.
ACCOUNTS = ["project only", *ORG_ROLES, "two projects"]
NOTHING_BEYOND = {"project only", "ORG_MEMBER"}
CALLERS = ["ORG_OWNER", *PROJECT_ROLES]

Write = Callable[[AtlasClient, str, dict[str, Any]], Awaitable[httpx.Response]]
# write → the project roles its own x-rolesRequirements admits (ORG_OWNER passes every one).
WRITES: dict[str, tuple[frozenset[str], Write]] = {
    "rename": (
        frozenset({"GROUP_OWNER"}),
        lambda c, path, _a: c.patch(path, json={"name": "renamed"}),
    ),
    "describe": (
        frozenset({"GROUP_OWNER"}),
        lambda c, path, _a: c.patch(path, json={"description": "changed"}),
    ),
    "addAccessEntry": (
        frozenset({"GROUP_OWNER", "GROUP_ACCESS_MANAGER"}),
        lambda c, path, _a: c.post(f"{path}/accessList", json=[{"ipAddress": "192.0.2.10"}]),
    ),
    "deleteAccessEntry": (
        frozenset({"GROUP_OWNER", "GROUP_ACCESS_MANAGER"}),
        lambda c, path, _a: c.delete(f"{path}/accessList/{SEEDED_ENTRY.replace('/', '%2F')}"),
    ),
    "createSecret": (
        frozenset({"GROUP_OWNER"}),
        lambda c, path, _a: c.post(f"{path}/secrets", json={"secretExpiresAfterHours": 8}),
    ),
    "deleteSecret": (
        frozenset({"GROUP_OWNER"}),
        lambda c, path, a: c.delete(f"{path}/secrets/{a['secrets'][0]['id']}"),
    ),
}


async def make_account(owner: AtlasClient, org_id: str, group_id: str, other_group: str, kind: str) -> dict[str, Any]:
    """An account of ``kind`` assigned to ``group_id`` (read only there), with one secret and one access entry."""
    if kind in ("project only", "two projects"):
        account = await create_group_account(owner, group_id, name=kind.replace(" ", "-"))
        if kind == "two projects":
            invite = await owner.post(
                f"{group_account(other_group, account['clientId'])}:invite", json={"roles": ["GROUP_READ_ONLY"]}
            )
            assert invite.status_code == 200, invite.text
    else:
        account = await create_org_account(owner, org_id, roles=[kind], name=kind)
        invite = await owner.post(
            f"{group_account(group_id, account['clientId'])}:invite", json={"roles": ["GROUP_READ_ONLY"]}
        )
        assert invite.status_code == 200, invite.text
    entries = f"{org_account(org_id, account['clientId'])}/accessList"
    seeded = await owner.post(entries, json=[{"cidrBlock": SEEDED_ENTRY}])
    assert seeded.status_code == 200, seeded.text
    return account


async def snapshot(owner: AtlasClient, org_id: str, client_id: str) -> dict[str, Any]:
    """Everything a write of the table could change, read through the organization path."""
    path = org_account(org_id, client_id)
    account = (await owner.get(path)).json()
    entries = (await owner.get(f"{path}/accessList")).json()["results"]
    return {
        "name": account["name"],
        "description": account["description"],
        "secrets": sorted(s["id"] for s in account["secrets"]),
        "accessList": sorted(e["cidrBlock"] for e in entries),
    }


def allowed(caller: str, write: str, account: str) -> bool:
    if caller == "ORG_OWNER":
        return True
    return caller in WRITES[write][0] and account in NOTHING_BEYOND


@pytest.mark.parametrize("caller_role", CALLERS)
async def test_account_changes_through_a_project_path(client: AtlasClient, caller_role: str) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id, "under-test")
    other_group = await client.create_project(org_id, "elsewhere")
    if caller_role == "ORG_OWNER":
        caller = await client.as_service_account(org_id, ["ORG_OWNER"])
    else:
        caller = await client.as_service_account(org_id, ["ORG_MEMBER"], {group_id: [caller_role]})

    outcomes: dict[tuple[str, str], str] = {}
    for kind in ACCOUNTS:
        account = await make_account(client, org_id, group_id, other_group, kind)
        path = group_account(group_id, account["clientId"])
        before = await snapshot(client, org_id, account["clientId"])
        for write, (_roles, send) in WRITES.items():
            response = await send(caller, path, account)
            after = await snapshot(client, org_id, account["clientId"])
            if response.status_code == 401:
                assert_error(response, 401, "USER_UNAUTHORIZED")
                assert after == before, (kind, write)
                outcomes[kind, write] = "401"
            else:
                assert response.status_code in (200, 201, 204), (kind, write, response.text)
                assert after != before, (kind, write)
                outcomes[kind, write] = "allowed"
            before = after
    expected = {
        (kind, write): "allowed" if allowed(caller_role, write, kind) else "401"
        for kind in ACCOUNTS
        for write in WRITES
    }
    assert outcomes == expected


@pytest.mark.parametrize("kind", ["project only", "ORG_OWNER", "two projects"])
async def test_membership_stays_the_projects(client: AtlasClient, kind: str) -> None:
    """A project owner sets the roles of any account in its project and removes it from the project (Atlas: the
    project's access is the project owner's to manage), but a PATCH that also renames is a change to the account."""
    org_id = await client.create_org()
    group_id = await client.create_project(org_id, "under-test")
    other_group = await client.create_project(org_id, "elsewhere")
    project_owner = await client.as_service_account(org_id, ["ORG_MEMBER"], {group_id: ["GROUP_OWNER"]})
    account = await make_account(client, org_id, group_id, other_group, kind)
    path = group_account(group_id, account["clientId"])

    mixed = await project_owner.patch(path, json={"roles": ["GROUP_OWNER"], "name": "renamed"})
    if kind == "project only":
        assert mixed.status_code == 200, mixed.text
    else:
        assert_error(mixed, 401, "USER_UNAUTHORIZED")
        unchanged = (await client.get(path)).json()
        assert (unchanged["roles"], unchanged["name"]) == (["GROUP_READ_ONLY"], account["name"])

    response = await project_owner.patch(path, json={"roles": ["GROUP_DATA_ACCESS_READ_ONLY"]})
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["GROUP_DATA_ACCESS_READ_ONLY"]
    assert (await project_owner.delete(path)).status_code == 204
    assert (await client.get(path)).status_code == 404
    # Still in the organization, credentials and all.
    assert (await client.get(org_account(org_id, account["clientId"]))).status_code == 200
