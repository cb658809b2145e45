"""The Events API over real HTTP: responses in Atlas's shapes (tests/events/atlas-events.schema.json), paging and
filters at their edges, dates inclusive at both ends and in any ISO 8601 spelling, Atlas 400s for bad parameters,
and who may read what."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from atlas_sa.audit.catalogue import CATALOGUE
from atlas_sa.kit.clock import FrozenClock
from tests.events.support import V2, org_events, reader_of
from tests.support.client import AtlasClient

SCHEMA = json.loads((Path(__file__).parent / "atlas-events.schema.json").read_text())
BOOTSTRAP = ["API_KEY_CREATED", "SERVICE_ACCOUNT_CREATED", "ORG_CREATED"]  # newest first
ACCOUNT = {"name": "robot", "description": "d", "roles": ["ORG_MEMBER"], "secretExpiresAfterHours": 24}


def check(document: Any, definition: str) -> None:
    schema = {**SCHEMA, "$ref": f"#/$defs/{definition}"}
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(document)]
    assert errors == [], errors


def check_event(event: dict[str, Any]) -> None:
    """Atlas's shape, and no field Atlas's event views do not have."""
    check(event, "EventView")
    assert set(event) <= set(SCHEMA["$defs"]["EventView"]["properties"]), event


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["eventTypeName"] for e in events]


async def get(client: AtlasClient, path: str, **params: Any) -> dict[str, Any]:
    response = await client.get(V2 + path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.atlas.2023-01-01+json;charset=utf-8"
    body: dict[str, Any] = response.json()
    return body


async def error(client: AtlasClient, path: str, status: int = 400, **params: Any) -> dict[str, Any]:
    response = await client.get(V2 + path, params=params)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= {"detail", "error", "errorCode", "parameters", "reason"}
    return body


async def new_account(client: AtlasClient, org_id: str, name: str = "robot") -> str:
    response = await client.post(f"{V2}/orgs/{org_id}/serviceAccounts", json={**ACCOUNT, "name": name})
    assert response.status_code == 201, response.text
    client_id: str = response.json()["clientId"]
    return client_id


# --- shapes ----------------------------------------------------------------------------------------------------


async def test_every_response_has_atlas_shape(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    await client.post(f"{V2}/groups/{group_id}/serviceAccounts", json={**ACCOUNT, "roles": ["GROUP_OWNER"]})
    # As an API key too: its events carry apiKeyId and publicKey.
    await reader_of(client).post(f"{V2}/orgs/{org_id}/serviceAccounts", json=ACCOUNT)

    for params in ({}, {"includeRaw": "true"}, {"includeCount": "false", "itemsPerPage": 2}):
        page = await get(client, f"/orgs/{org_id}/events", **params)
        check(page, "PaginatedEvent")
        for event in page["results"]:
            check_event(event)
            assert ("raw" in event) is (params.get("includeRaw") == "true")
        group_page = await get(client, f"/groups/{group_id}/events", **params)
        check(group_page, "PaginatedEvent")
        for event in group_page["results"]:
            check_event(event)
            assert event["groupId"] == group_id

    listed = (await get(client, f"/orgs/{org_id}/events"))["results"]
    assert {"apiKeyId", "publicKey"} <= set(listed[0])
    assert {"userId", "username", "remoteAddress"} <= set(listed[1])
    for event in listed:
        one = await get(client, f"/orgs/{org_id}/events/{event['id']}", includeRaw="true")
        check_event(one)
        assert one == {**event, "raw": one["raw"]}
        assert one["links"] == [{"href": f"http://atlas.test{V2}/orgs/{org_id}/events/{event['id']}", "rel": "self"}]
        assert one["raw"]["_t"] == event["eventTypeName"]
        assert one["raw"]["id"] == event["id"]
    project_event = (await get(client, f"/groups/{group_id}/events"))["results"][0]
    one = await get(client, f"/groups/{group_id}/events/{project_event['id']}")
    check_event(one)
    assert one["links"][0]["href"].endswith(f"{V2}/groups/{group_id}/events/{project_event['id']}")

    types = await get(client, "/eventTypes")
    check(types, "PaginatedEventTypeDetailsResponse")
    assert {t["eventType"] for t in types["results"]} == set(CATALOGUE)
    assert types["totalCount"] == len(CATALOGUE)
    expiring = next(t for t in types["results"] if t["eventType"] == "ORG_SERVICE_ACCOUNT_SECRETS_EXPIRING")
    assert expiring == {
        "alertable": True,
        "description": "Organization Service Account Secrets are about to expire",
        "eventType": "ORG_SERVICE_ACCOUNT_SECRETS_EXPIRING",
    }


async def test_envelope_and_pretty_apply(client: AtlasClient) -> None:
    org_id = await client.create_org()
    response = await client.get(f"{V2}/orgs/{org_id}/events", params={"envelope": "true", "pretty": "true"})
    assert response.status_code == 200
    assert response.text.startswith("{\n  ")
    assert response.json()["status"] == 200
    assert names(response.json()["results"]) == BOOTSTRAP


# --- paging ----------------------------------------------------------------------------------------------------


async def test_newest_first_and_paging_edges(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()  # three events at the epoch
    for i in range(4):
        clock.advance(seconds=1)
        await new_account(client, org_id, f"robot-{i}")
    everything = await get(client, f"/orgs/{org_id}/events")
    assert everything["totalCount"] == 7
    created = [e["created"] for e in everything["results"]]
    assert created == sorted(created, reverse=True)
    assert names(everything["results"])[-3:] == BOOTSTRAP  # same second: later ids first
    ids = [e["id"] for e in everything["results"]]

    pages = [await get(client, f"/orgs/{org_id}/events", itemsPerPage=3, pageNum=n) for n in (1, 2, 3, 4)]
    assert [[e["id"] for e in p["results"]] for p in pages] == [ids[0:3], ids[3:6], ids[6:7], []]
    assert all(p["totalCount"] == 7 for p in pages)
    rels = [[link["rel"] for link in p["links"]] for p in pages]
    assert rels == [["self", "next"], ["self", "previous", "next"], ["self", "previous"], ["self", "previous"]]
    assert pages[0]["links"][1]["href"].endswith(f"/orgs/{org_id}/events?itemsPerPage=3&pageNum=2")

    # Without a count: no totalCount, and "next" exactly when another item exists.
    full_last = await get(client, f"/orgs/{org_id}/events", itemsPerPage=7, includeCount="false")
    assert "totalCount" not in full_last
    assert [link["rel"] for link in full_last["links"]] == ["self"]
    assert [e["id"] for e in full_last["results"]] == ids
    one_short = await get(client, f"/orgs/{org_id}/events", itemsPerPage=6, includeCount="false")
    assert [link["rel"] for link in one_short["links"]] == ["self", "next"]
    beyond = await get(client, f"/orgs/{org_id}/events", itemsPerPage=6, pageNum=3, includeCount="false")
    assert beyond["results"] == []

    assert len((await get(client, f"/orgs/{org_id}/events", itemsPerPage=500))["results"]) == 7
    far = await get(client, f"/orgs/{org_id}/events", pageNum=10**12)
    assert far["results"] == []
    assert far["totalCount"] == 7
    assert (await get(client, f"/orgs/{org_id}/events", pageNum=0))["results"] == everything["results"]
    for params in ({"itemsPerPage": 501}, {"itemsPerPage": 0}, {"pageNum": -1}, {"pageNum": "x"}):
        body = await error(client, f"/orgs/{org_id}/events", **params)
        assert body["errorCode"] == "INVALID_QUERY_PARAMETER", params
        assert body["parameters"] == list(params), params


async def test_event_types_page(client: AtlasClient) -> None:
    await client.create_org()
    every = await get(client, "/eventTypes", itemsPerPage=500)
    names_sorted = [t["eventType"] for t in every["results"]]
    assert names_sorted == sorted(CATALOGUE)
    second = await get(client, "/eventTypes", itemsPerPage=5, pageNum=2)
    assert [t["eventType"] for t in second["results"]] == names_sorted[5:10]
    assert (await error(client, "/eventTypes", itemsPerPage=501))["errorCode"] == "INVALID_QUERY_PARAMETER"
    assert (await client.anonymous().get(V2 + "/eventTypes")).status_code == 401


# --- filters ---------------------------------------------------------------------------------------------------


async def test_event_type_filters(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    client_id = await new_account(client, org_id)
    invited = await client.post(
        f"{V2}/groups/{group_id}/serviceAccounts/{client_id}:invite", json={"roles": ["GROUP_READ_ONLY"]}
    )
    assert invited.status_code == 200

    only = await get(client, f"/orgs/{org_id}/events", eventType="ORG_CREATED")
    assert names(only["results"]) == ["ORG_CREATED"]
    assert only["totalCount"] == 1
    both = await client.get(
        f"{V2}/orgs/{org_id}/events", params=[("eventType", "ORG_CREATED"), ("eventType", "GROUP_CREATED")]
    )
    assert names(both.json()["results"]) == ["GROUP_CREATED", "ORG_CREATED"]
    assert "eventType=ORG_CREATED&eventType=GROUP_CREATED" in both.json()["links"][0]["href"]
    none_yet = await get(client, f"/orgs/{org_id}/events", eventType="ORG_SERVICE_ACCOUNT_SECRETS_EXPIRED")
    assert none_yet == {**none_yet, "results": [], "totalCount": 0}

    project = await get(client, f"/groups/{group_id}/events")
    assert names(project["results"]) == ["SERVICE_ACCOUNT_ADDED_TO_GROUP", "GROUP_CREATED"]
    excluded = await client.get(
        f"{V2}/groups/{group_id}/events",
        params=[("excludedEventType", "GROUP_CREATED"), ("excludedEventType", "SERVICE_ACCOUNT_DELETED")],
    )
    assert names(excluded.json()["results"]) == ["SERVICE_ACCOUNT_ADDED_TO_GROUP"]
    assert (await get(client, f"/groups/{group_id}/events", clusterNames="Cluster0"))["results"] == []

    for path, params in (
        (f"/orgs/{org_id}/events", {"eventType": "CLUSTER_CREATD"}),
        (f"/orgs/{org_id}/events", {"eventType": ""}),
        # Project events are Atlas's project event types: no organization-only type.
        (f"/groups/{group_id}/events", {"eventType": "ORG_CREATED"}),
        (f"/groups/{group_id}/events", {"excludedEventType": "API_KEY_CREATED"}),
    ):
        body = await error(client, path, **params)
        assert body["errorCode"] == "INVALID_ENUM_VALUE", params
        assert body["parameters"] == list(params.values())
        assert body["badRequestDetail"]["fields"][0]["field"] == next(iter(params))


async def test_dates_are_inclusive_and_any_iso_8601(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()  # three events at 12:00:00
    clock.advance(seconds=1)
    await new_account(client, org_id, "one")  # 12:00:01
    clock.advance(seconds=1)
    await new_account(client, org_id, "two")  # 12:00:02
    path = f"/orgs/{org_id}/events"

    async def count(**params: str) -> int:
        total: int = (await get(client, path, **params))["totalCount"]
        return total

    assert await count(minDate="2026-01-15T12:00:01Z") == 2
    assert await count(maxDate="2026-01-15T12:00:01Z") == 4
    assert await count(minDate="2026-01-15T12:00:01Z", maxDate="2026-01-15T12:00:01Z") == 1
    assert await count(minDate="2026-01-15T12:00:00.001Z") == 2
    assert await count(maxDate="2026-01-15T11:59:59.999Z") == 0
    assert await count(minDate="2026-01-15T12:00:02Z", maxDate="2026-01-15T12:00:01Z") == 0
    # The same instants in other spellings: an offset, no zone (UTC), a bare date (midnight UTC).
    assert await count(minDate="2026-01-15T13:00:01+01:00") == 2
    assert await count(minDate="2026-01-15T12:00:01") == 2
    assert await count(minDate="2026-01-15") == 5
    assert await count(maxDate="2026-01-15") == 0
    assert await count(minDate="0001-01-01T00:00:00Z", maxDate="9999-12-31T23:59:59Z") == 5

    for name in ("minDate", "maxDate"):
        for bad in ("yesterday", "2026-13-01", "2026-01-15T25:00:00Z", "", "0001-01-01T00:00:00+01:00"):
            body = await error(client, path, **{name: bad})
            assert body["errorCode"] == "INVALID_QUERY_PARAMETER", bad
            assert body["parameters"] == [name]


async def test_bad_flags_are_400(client: AtlasClient) -> None:
    org_id = await client.create_org()
    for params in ({"includeRaw": "maybe"}, {"includeCount": "maybe"}):
        body = await error(client, f"/orgs/{org_id}/events", **params)
        assert body["errorCode"] == "INVALID_QUERY_PARAMETER"
        assert body["parameters"] == list(params)
    event_id = (await org_events(client, org_id))[0]["id"]
    body = await error(client, f"/orgs/{org_id}/events/{event_id}", includeRaw="maybe")
    assert body["errorCode"] == "INVALID_QUERY_PARAMETER"


# --- who may read what -----------------------------------------------------------------------------------------


async def test_roles(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    org_path, group_path = f"/orgs/{org_id}/events", f"/groups/{group_id}/events"
    member = await client.as_service_account(org_id, ["ORG_MEMBER"])
    assert names((await get(member, org_path))["results"])[-3:] == BOOTSTRAP
    assert (await error(member, group_path, 401))["errorCode"] == "USER_UNAUTHORIZED"
    reader = await client.as_service_account(org_id, ["ORG_MEMBER"], {group_id: ["GROUP_READ_ONLY"]})
    assert names((await get(reader, group_path))["results"]) == ["GROUP_CREATED"]
    event_id = (await get(reader, group_path))["results"][0]["id"]
    assert (await get(reader, f"{group_path}/{event_id}"))["id"] == event_id
    org_reader = await client.as_service_account(org_id, ["ORG_READ_ONLY"])
    assert names((await get(org_reader, group_path))["results"]) == ["GROUP_CREATED"]
    for path in (org_path, group_path, "/eventTypes"):
        assert (await client.anonymous().get(V2 + path)).status_code == 401


async def test_other_scopes_are_absent(client: AtlasClient) -> None:
    org_id = await client.create_org("mine")
    group_id = await client.create_project(org_id, "p1")
    other_group = await client.create_project(org_id, "p2")
    other = client.anonymous()
    their_org = await other.create_org("theirs")
    their_event = (await org_events(other, their_org))[0]["id"]
    other_project_event = (await get(client, f"/groups/{other_group}/events"))["results"][0]["id"]
    org_level_event = (await get(client, f"/orgs/{org_id}/events", eventType="ORG_CREATED"))["results"][0]["id"]

    # An event of another organization, another project, or of no project, is absent from this path.
    for path, event_id in (
        (f"/orgs/{org_id}/events", their_event),
        (f"/groups/{group_id}/events", their_event),
        (f"/groups/{group_id}/events", other_project_event),
        (f"/groups/{group_id}/events", org_level_event),
        (f"/orgs/{org_id}/events", "0" * 24),
        (f"/orgs/{org_id}/events", "not-an-id"),
    ):
        body = await error(client, f"{path}/{event_id}", 404)
        assert (body["errorCode"], body["parameters"]) == ("RESOURCE_NOT_FOUND", [event_id])
    # Another organization's lists are refused as every other resource of it is.
    assert (await error(client, f"/orgs/{their_org}/events", 401))["errorCode"] == "USER_UNAUTHORIZED"
    assert (await error(client, f"/orgs/{their_org}/events/{their_event}", 401))["errorCode"] == "USER_UNAUTHORIZED"
    assert (await error(client, f"/orgs/{'a' * 24}/events", 404))["errorCode"] == "ORG_NOT_FOUND"
    assert (await error(client, "/orgs/nope/events", 404))["errorCode"] == "INVALID_ORG_ID"
    assert (await error(client, f"/groups/{'b' * 24}/events", 404))["errorCode"] == "GROUP_NOT_FOUND"
    assert (await error(client, "/groups/nope/events", 404))["errorCode"] == "INVALID_GROUP_ID"
    assert their_event not in {e["id"] for e in await org_events(client, org_id)}


async def test_a_deleted_projects_events_stay_in_the_organization(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    assert (await client.delete(f"{V2}/groups/{group_id}")).status_code == 204
    kept = await get(client, f"/orgs/{org_id}/events", eventType=["GROUP_CREATED", "GROUP_DELETED"])
    assert [(e["eventTypeName"], e["groupId"]) for e in kept["results"]] == [
        ("GROUP_DELETED", group_id),
        ("GROUP_CREATED", group_id),
    ]
    assert (await error(client, f"/groups/{group_id}/events", 404))["errorCode"] == "GROUP_NOT_FOUND"


@pytest.mark.parametrize("accept", ["application/vnd.atlas.2023-01-01+json", "application/vnd.atlas.2025-03-12+json"])
async def test_resource_version(client: AtlasClient, accept: str) -> None:
    org_id = await client.create_org()
    response = await client.get(f"{V2}/orgs/{org_id}/events", headers={"Accept": accept})
    assert response.headers["content-type"] == "application/vnd.atlas.2023-01-01+json;charset=utf-8"
    too_old = await client.get(
        f"{V2}/orgs/{org_id}/events", headers={"Accept": "application/vnd.atlas.2022-12-31+json"}
    )
    assert too_old.status_code == 406
