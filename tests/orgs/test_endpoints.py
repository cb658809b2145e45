"""Organizations over real HTTP: createOrganization, getOrganization, listOrganizations."""

from __future__ import annotations

from tests.support.client import AtlasClient

ORGS = "/api/atlas/v2/orgs"


async def test_create_get_list(client: AtlasClient) -> None:
    response = await client.post(ORGS, json={"name": "Acme Corp"})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/vnd.atlas.2023-01-01+json;charset=utf-8"
    org = response.json()["organization"]
    assert org["name"] == "Acme Corp"
    assert org["isDeleted"] is False
    assert len(org["id"]) == 24
    assert org["links"] == [{"href": f"http://atlas.test{ORGS}/{org['id']}", "rel": "self"}]

    fetched = await client.get(f"{ORGS}/{org['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == org

    listed = (await client.get(ORGS)).json()
    assert listed["totalCount"] == 1
    assert listed["results"] == [org]


async def test_list_filters_by_name(client: AtlasClient) -> None:
    await client.create_org("alpha")
    beta = await client.create_org("beta")
    listed = (await client.get(f"{ORGS}?name=beta")).json()
    assert [o["id"] for o in listed["results"]] == [beta]
    assert listed["totalCount"] == 1


async def test_ids_are_distinct_and_ordered(client: AtlasClient) -> None:
    ids = [await client.create_org(f"org{i}") for i in range(5)]
    assert len(set(ids)) == 5
    assert ids == sorted(ids)


async def test_malformed_org_id(client: AtlasClient) -> None:
    response = await client.get(f"{ORGS}/not-an-id")
    assert response.status_code == 404
    assert response.json()["errorCode"] == "INVALID_ORG_ID"
    assert response.json()["parameters"] == ["not-an-id"]


async def test_unknown_org_id(client: AtlasClient) -> None:
    unknown = "5" * 24
    response = await client.get(f"{ORGS}/{unknown}")
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"No organization with ID {unknown} exists.",
        "error": 404,
        "errorCode": "ORG_NOT_FOUND",
        "parameters": [unknown],
        "reason": "Not Found",
    }


async def test_uppercase_hex_is_malformed(client: AtlasClient) -> None:
    response = await client.get(f"{ORGS}/{'A' * 24}")
    assert response.json()["errorCode"] == "INVALID_ORG_ID"
