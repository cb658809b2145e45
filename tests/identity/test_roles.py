"""Who may do what: a table of operation by role (allowed, or 401 ``USER_UNAUTHORIZED``), cross-org isolation, and
every ``/api/atlas/v2`` route refusing a request without credentials."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute

from tests.support.client import AtlasClient

V2 = "/api/atlas/v2"

ROLES: dict[str, tuple[list[str], list[str]]] = {
    # name: (org roles, roles in the project under test)
    "ORG_OWNER": (["ORG_OWNER"], []),
    "ORG_READ_ONLY": (["ORG_READ_ONLY"], []),
    "ORG_MEMBER": (["ORG_MEMBER"], []),
    "ORG_GROUP_CREATOR": (["ORG_GROUP_CREATOR"], []),
    "ORG_BILLING_ADMIN": (["ORG_BILLING_ADMIN"], []),
    "GROUP_OWNER": (["ORG_MEMBER"], ["GROUP_OWNER"]),
    "GROUP_READ_ONLY": (["ORG_MEMBER"], ["GROUP_READ_ONLY"]),
    "GROUP_ACCESS_MANAGER": (["ORG_MEMBER"], ["GROUP_ACCESS_MANAGER"]),
}
EVERYONE = set(ROLES)
PROJECT_READERS = {"ORG_OWNER", "ORG_READ_ONLY", "GROUP_OWNER", "GROUP_READ_ONLY", "GROUP_ACCESS_MANAGER"}

# operation id → roles allowed (x-rolesRequirements with the hierarchy of atlas_sa.identity.roles).
TABLE: dict[str, set[str]] = {
    "listOrganizations": EVERYONE,
    "getOrganization": EVERYONE,  # Organization Member
    "getOrganizationProjects": EVERYONE,  # Organization Member
    "createOrganization": {"ORG_OWNER"},
    "createProject": {"ORG_OWNER", "ORG_GROUP_CREATOR"},  # Organization Project Creator
    "getProject": PROJECT_READERS,  # Project Read Only
    "listOrgServiceAccounts": {"ORG_OWNER", "ORG_READ_ONLY"},  # Organization Read Only
    "createOrgServiceAccount": {"ORG_OWNER"},  # Organization Owner
    "listGroupServiceAccounts": PROJECT_READERS,  # Project Read Only
    "createGroupServiceAccount": {"ORG_OWNER", "GROUP_OWNER"},  # Project Owner
    "deleteProject": {"ORG_OWNER", "GROUP_OWNER"},  # Project Owner; runs last, it removes the project
}

ORG_ACCOUNT = {"name": "n", "description": "d", "roles": ["ORG_MEMBER"], "secretExpiresAfterHours": 24}
GROUP_ACCOUNT = {"name": "n", "description": "d", "roles": ["GROUP_READ_ONLY"], "secretExpiresAfterHours": 24}


def operations(org_id: str, group_id: str) -> dict[str, Callable[[AtlasClient], Awaitable[Any]]]:
    return {
        "listOrganizations": lambda c: c.get(f"{V2}/orgs"),
        "getOrganization": lambda c: c.get(f"{V2}/orgs/{org_id}"),
        "getOrganizationProjects": lambda c: c.get(f"{V2}/orgs/{org_id}/groups"),
        "createOrganization": lambda c: c.post(f"{V2}/orgs", json={"name": "new org"}),
        "createProject": lambda c: c.post(f"{V2}/groups", json={"name": "new project", "orgId": org_id}),
        "getProject": lambda c: c.get(f"{V2}/groups/{group_id}"),
        "listOrgServiceAccounts": lambda c: c.get(f"{V2}/orgs/{org_id}/serviceAccounts"),
        "createOrgServiceAccount": lambda c: c.post(f"{V2}/orgs/{org_id}/serviceAccounts", json=ORG_ACCOUNT),
        "listGroupServiceAccounts": lambda c: c.get(f"{V2}/groups/{group_id}/serviceAccounts"),
        "createGroupServiceAccount": lambda c: c.post(f"{V2}/groups/{group_id}/serviceAccounts", json=GROUP_ACCOUNT),
        "deleteProject": lambda c: c.delete(f"{V2}/groups/{group_id}"),
    }


@pytest.mark.parametrize("role", list(ROLES))
async def test_role_table(client: AtlasClient, role: str) -> None:
    org_id = await client.create_org("home")
    group_id = await client.create_project(org_id, "under test")
    org_roles, project_roles = ROLES[role]
    caller = await client.as_service_account(org_id, org_roles, {group_id: project_roles} if project_roles else None)
    outcomes: dict[str, str] = {}
    for operation, send in operations(org_id, group_id).items():
        response = await send(caller)
        if response.status_code == 401:
            assert response.json()["errorCode"] == "USER_UNAUTHORIZED", (operation, response.text)
            outcomes[operation] = "401"
        else:
            assert response.status_code in (200, 201, 204), (operation, response.status_code, response.text)
            outcomes[operation] = "allowed"
    expected = {operation: "allowed" if role in allowed else "401" for operation, allowed in TABLE.items()}
    assert outcomes == expected


async def test_cross_org_isolation(client: AtlasClient) -> None:
    mine = await client.create_org("mine")
    my_group = await client.create_project(mine, "mine")
    other = client.anonymous()
    theirs = await other.create_org("theirs")
    their_group = await other.create_project(theirs, "theirs")

    for path in (
        f"{V2}/orgs/{theirs}",
        f"{V2}/orgs/{theirs}/groups",
        f"{V2}/groups/{their_group}",
        f"{V2}/orgs/{theirs}/serviceAccounts",
        f"{V2}/groups/{their_group}/serviceAccounts",
    ):
        response = await client.get(path)
        assert response.status_code == 401, path
        assert response.json()["errorCode"] == "USER_UNAUTHORIZED", path
    assert (await client.delete(f"{V2}/groups/{their_group}")).status_code == 401
    assert (await client.post(f"{V2}/groups", json={"name": "x", "orgId": theirs})).status_code == 401
    assert (await client.post(f"{V2}/orgs/{theirs}/serviceAccounts", json=ORG_ACCOUNT)).status_code == 401
    # Their project is still there, and lists show only my organization's things.
    assert (await other.get(f"{V2}/groups/{their_group}")).status_code == 200
    assert [o["id"] for o in (await client.get(f"{V2}/orgs")).json()["results"]] == [mine]
    assert [g["id"] for g in (await client.get(f"{V2}/groups")).json()["results"]] == [my_group]
    assert (await client.get(f"{V2}/groups/byName/theirs")).json()["errorCode"] == "NOT_IN_GROUP"
    assert (await client.get(f"{V2}/groups/byName/mine")).status_code == 200


_SAMPLES = {
    "orgId": "a" * 24,
    "groupId": "b" * 24,
    "clientId": "mdb_sa_id_" + "c" * 24,
    "secretId": "d" * 24,
    "ipAddress": "192.0.2.1",
    "groupName": "some-project",
}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: _SAMPLES.get(m.group(1), "x"), path)


async def test_every_v2_route_requires_a_credential(client: AtlasClient) -> None:
    anonymous = client.anonymous()
    checked = 0
    for route in client.state.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith(V2):
            continue
        for method in sorted(route.methods or ()):
            response = await anonymous.request(method, concrete(route.path), json={})
            assert response.status_code == 401, (method, route.path, response.text)
            assert response.json()["errorCode"] == "UNAUTHORIZED", (method, route.path)
            assert response.headers["www-authenticate"].startswith("Digest "), (method, route.path)
            checked += 1
    assert checked >= 30
