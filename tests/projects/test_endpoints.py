"""Projects over real HTTP: create, get, byName, list, delete, org projects."""

from __future__ import annotations

from sqlalchemy import select

from atlas_sa.kit.db import Database
from atlas_sa.models import ProjectAssignment, ServiceAccount
from tests.conftest import EPOCH
from tests.support.client import AtlasClient

GROUPS = "/api/atlas/v2/groups"


async def test_create_and_get(client: AtlasClient) -> None:
    org_id = await client.create_org()
    response = await client.post(GROUPS, json={"name": "Shop (prod)", "orgId": org_id})
    assert response.status_code == 200
    project = response.json()
    assert project["name"] == "Shop (prod)"
    assert project["orgId"] == org_id
    assert project["clusterCount"] == 0
    assert project["created"] == "2026-01-15T12:00:00Z"
    assert (await client.get(f"{GROUPS}/{project['id']}")).json() == project
    assert (await client.get(f"{GROUPS}/byName/Shop (prod)")).json() == project


async def test_name_unique_within_org_only(client: AtlasClient) -> None:
    first = await client.create_org("a")
    other = client.anonymous()
    second = await other.create_org("b")
    await client.create_project(first, "shared")
    clash = await client.post(GROUPS, json={"name": "shared", "orgId": first})
    assert clash.status_code == 409
    assert clash.json()["errorCode"] == "GROUP_ALREADY_EXISTS"
    assert clash.json()["parameters"] == ["shared"]
    assert (await other.post(GROUPS, json={"name": "shared", "orgId": second})).status_code == 200
    # Each credential lists only its own organization's projects.
    assert (await client.get(GROUPS)).json()["totalCount"] == 1
    assert (await other.get(GROUPS)).json()["totalCount"] == 1


async def test_create_in_unknown_org(client: AtlasClient) -> None:
    await client.create_org()
    response = await client.post(GROUPS, json={"name": "x", "orgId": "1" * 24})
    assert response.status_code == 404
    assert response.json()["errorCode"] == "ORG_NOT_FOUND"


async def test_org_projects(client: AtlasClient) -> None:
    other = client.anonymous()
    org_b = await other.create_org("b")
    await other.create_project(org_b, "two")
    org_a = await client.create_org("a")
    a1 = await client.create_project(org_a, "one")
    body = (await client.get(f"/api/atlas/v2/orgs/{org_a}/groups")).json()
    assert [p["id"] for p in body["results"]] == [a1]
    assert body["totalCount"] == 1
    filtered = (await client.get(f"/api/atlas/v2/orgs/{org_a}/groups?name=zzz")).json()
    assert filtered["results"] == []
    missing = await client.get(f"/api/atlas/v2/orgs/{'2' * 24}/groups")
    assert missing.json()["errorCode"] == "ORG_NOT_FOUND"


async def test_bad_and_unknown_ids(client: AtlasClient) -> None:
    await client.create_org()
    assert (await client.get(f"{GROUPS}/xyz")).json()["errorCode"] == "INVALID_GROUP_ID"
    unknown = await client.get(f"{GROUPS}/{'3' * 24}")
    assert unknown.status_code == 404
    assert unknown.json()["errorCode"] == "GROUP_NOT_FOUND"
    assert unknown.json()["detail"] == f"No group with ID {'3' * 24} exists."
    by_name = await client.get(f"{GROUPS}/byName/nope")
    assert by_name.status_code == 404
    assert by_name.json()["errorCode"] == "NOT_IN_GROUP"
    assert by_name.json()["detail"] == "Current user is not in the group, or the group does not exist."
    assert by_name.json()["parameters"] == []
    assert (await client.delete(f"{GROUPS}/{'3' * 24}")).status_code == 404


async def test_delete_removes_only_assignments(client: AtlasClient, db: Database) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    async with db.unit_of_work() as session:
        session.add(
            ServiceAccount(
                id="c" * 24,
                client_id="mdb_sa_id_" + "c" * 24,
                org_id=org_id,
                name="n",
                description="d",
                org_roles=["ORG_MEMBER"],
                system_managed=False,
                created_at=EPOCH,
            )
        )
        await session.flush()
        session.add(
            ProjectAssignment(service_account_id="c" * 24, project_id=group_id, roles=["GROUP_OWNER"], created_at=EPOCH)
        )
    response = await client.delete(f"{GROUPS}/{group_id}")
    assert response.status_code == 204
    assert (await client.get(f"{GROUPS}/{group_id}")).status_code == 404
    async with db.unit_of_work() as session:
        assert (await session.execute(select(ProjectAssignment))).scalars().all() == []
        assert (await session.get(ServiceAccount, "c" * 24)) is not None


async def test_kubernetes_operator_creates_a_project_it_cannot_find(client: AtlasClient) -> None:
    """The operator's AtlasProject reconcile (mongodb-atlas-kubernetes ``internal/controller/atlasproject/project.go``,
    ``internal/translation/project/project.go``): look the project up by name; on an error code it reads as "not
    found" (``RESOURCE_NOT_FOUND``, ``GROUP_NOT_FOUND``, ``NOT_IN_GROUP``) create it; any other error stops the
    reconcile."""
    org_id = await client.create_org()
    missing = await client.get(f"{GROUPS}/byName/from-kubernetes")
    assert missing.status_code == 404
    assert missing.json()["errorCode"] in {"RESOURCE_NOT_FOUND", "GROUP_NOT_FOUND", "NOT_IN_GROUP"}
    created = await client.post(GROUPS, json={"name": "from-kubernetes", "orgId": org_id})
    assert created.status_code == 200, created.text
    found = await client.get(f"{GROUPS}/byName/from-kubernetes")
    assert found.status_code == 200
    assert found.json()["id"] == created.json()["id"]
