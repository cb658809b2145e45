"""Organizations over real HTTP: getOrganization, listOrganizations, as a service account (createOrganization is
onboarding's: ``tests/onboarding``)."""

from __future__ import annotations

from tests.support.client import AtlasClient

ORGS = "/api/atlas/v2/orgs"


async def test_list_filters_by_name(client: AtlasClient) -> None:
    beta = await client.create_org("beta")
    listed = (await client.get(f"{ORGS}?name=beta")).json()
    assert [o["id"] for o in listed["results"]] == [beta]
    assert listed["totalCount"] == 1
    assert (await client.get(f"{ORGS}?name=alpha")).json()["totalCount"] == 0


async def test_ids_are_distinct_and_ordered(client: AtlasClient) -> None:
    ids = [await client.create_org(f"org{i}") for i in range(5)]
    assert len(set(ids)) == 5
    assert ids == sorted(ids)


async def test_malformed_org_id(client: AtlasClient) -> None:
    await client.create_org()
    response = await client.get(f"{ORGS}/not-an-id")
    assert response.status_code == 404
    assert response.json()["errorCode"] == "INVALID_ORG_ID"
    assert response.json()["parameters"] == ["not-an-id"]


async def test_unknown_org_id(client: AtlasClient) -> None:
    await client.create_org()
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
    await client.create_org()
    response = await client.get(f"{ORGS}/{'A' * 24}")
    assert response.json()["errorCode"] == "INVALID_ORG_ID"
