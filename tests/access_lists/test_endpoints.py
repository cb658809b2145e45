"""Service-account access lists over real HTTP, on both paths: listOrgAccessList, createOrgAccessList,
deleteOrgAccessEntry, listAccessList, createAccessList, deleteGroupAccessEntry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from atlas_sa.access_lists.service import MAX_ENTRIES_PER_SERVICE_ACCOUNT
from tests.service_accounts.support import (
    SA_MEDIA_TYPE,
    assert_error,
    create_group_account,
    create_org_account,
    group_account,
    org_account,
)
from tests.support.client import AtlasClient


async def org_list(client: AtlasClient) -> str:
    """The access-list path of a fresh organization account."""
    org_id = await client.create_org()
    account = await create_org_account(client, org_id)
    return f"{org_account(org_id, account['clientId'])}/accessList"


def cidrs(body: dict[str, Any]) -> list[str]:
    return [entry["cidrBlock"] for entry in body["results"]]


async def test_add_and_list(client: AtlasClient) -> None:
    path = await org_list(client)
    empty = await client.get(path)
    assert empty.status_code == 200
    assert empty.json()["results"] == []
    assert empty.json()["totalCount"] == 0

    response = await client.post(path, json=[{"ipAddress": "203.0.113.10"}, {"cidrBlock": "198.51.100.0/24"}])
    assert response.status_code == 200
    assert response.headers["content-type"] == SA_MEDIA_TYPE
    body = response.json()
    assert body["totalCount"] == 2
    assert sorted(body["results"], key=lambda e: e["cidrBlock"]) == [
        {"cidrBlock": "198.51.100.0/24", "createdAt": "2026-01-15T12:00:00Z", "requestCount": 0},
        {
            "cidrBlock": "203.0.113.10/32",
            "createdAt": "2026-01-15T12:00:00Z",
            "ipAddress": "203.0.113.10",
            "requestCount": 0,
        },
    ]
    assert (await client.get(path)).json() == body


async def test_post_adds_and_answers_the_whole_list(client: AtlasClient) -> None:
    path = await org_list(client)
    await client.post(path, json=[{"ipAddress": "192.0.2.1"}])
    body = (await client.post(path, json=[{"ipAddress": "192.0.2.2"}, {"ipAddress": "192.0.2.3"}])).json()
    assert cidrs(body) == ["192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32"]
    assert body["totalCount"] == 3
    # An empty request adds nothing and answers the list.
    assert cidrs((await client.post(path, json=[])).json()) == cidrs(body)
    paged = (
        await client.post(path, params={"itemsPerPage": 2, "pageNum": 2}, json=[{"ipAddress": "192.0.2.4"}])
    ).json()
    assert cidrs(paged) == ["192.0.2.3/32", "192.0.2.4/32"]
    assert paged["totalCount"] == 4
    uncounted = (await client.get(path, params={"includeCount": "false"})).json()
    assert "totalCount" not in uncounted
    assert len(uncounted["results"]) == 4


@pytest.mark.parametrize(
    ("entry", "cidr", "ip"),
    [
        ({"ipAddress": "2001:db8::1"}, "2001:db8:0:0:0:0:0:1/128", "2001:db8:0:0:0:0:0:1"),
        ({"ipAddress": "2001:0DB8:0000:0000:0000:0000:0000:0001"}, "2001:db8:0:0:0:0:0:1/128", "2001:db8:0:0:0:0:0:1"),
        ({"cidrBlock": "2001:db8::/32"}, "2001:db8:0:0:0:0:0:0/32", None),
        ({"cidrBlock": "2001:db8::5/128"}, "2001:db8:0:0:0:0:0:5/128", "2001:db8:0:0:0:0:0:5"),
        ({"cidrBlock": "192.0.2.7/32"}, "192.0.2.7/32", "192.0.2.7"),
        ({"cidrBlock": "10.1.2.3/8"}, "10.0.0.0/8", None),
        ({"cidrBlock": "0.0.0.0/0"}, "0.0.0.0/0", None),
        ({"ipAddress": "::ffff:192.0.2.1"}, "0:0:0:0:0:ffff:c000:201/128", "0:0:0:0:0:ffff:c000:201"),
    ],
)
async def test_addresses_are_normalised(client: AtlasClient, entry: dict[str, str], cidr: str, ip: str | None) -> None:
    path = await org_list(client)
    [stored] = (await client.post(path, json=[entry])).json()["results"]
    assert stored["cidrBlock"] == cidr
    assert stored.get("ipAddress") == ip


@pytest.mark.parametrize(
    ("existing", "again"),
    [
        ({"ipAddress": "192.0.2.1"}, {"ipAddress": "192.0.2.1"}),
        ({"ipAddress": "192.0.2.1"}, {"cidrBlock": "192.0.2.1/32"}),
        ({"cidrBlock": "10.0.0.0/8"}, {"cidrBlock": "10.9.9.9/8"}),
        ({"ipAddress": "2001:db8::1"}, {"ipAddress": "2001:DB8:0::1"}),
    ],
)
async def test_an_entry_already_present_is_409_and_nothing_is_added(
    client: AtlasClient, existing: dict[str, str], again: dict[str, str]
) -> None:
    path = await org_list(client)
    await client.post(path, json=[existing])
    sent = next(iter(again.values()))
    response = await client.post(path, json=[{"ipAddress": "198.51.100.1"}, again])
    assert_error(response, 409, "ADDRESS_ALREADY_IN_ACCESS_LIST", [sent])
    assert (await client.get(path)).json()["totalCount"] == 1


@pytest.mark.parametrize(
    ("body", "status", "code", "parameter"),
    [
        (
            [{"ipAddress": "192.0.2.1"}, {"cidrBlock": "192.0.2.1/32"}],
            400,
            "DUPLICATE_ADDRESSES_IN_INPUT",
            "192.0.2.1/32",
        ),
        ([{"ipAddress": "192.0.2.1", "cidrBlock": "192.0.2.0/24"}], 400, "INVALID_ATTRIBUTE", "cidrBlock"),
        ([{}], 400, "MISSING_ATTRIBUTE", "cidrBlock"),
        ([{"ipAddress": "192.0.2"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "192.0.2"),
        ([{"ipAddress": "256.1.1.1"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "256.1.1.1"),
        ([{"ipAddress": "01.2.3.4"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "01.2.3.4"),
        ([{"ipAddress": "192.0.2.0/24"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "192.0.2.0/24"),
        ([{"ipAddress": "fe80::1%eth0"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "fe80::1%eth0"),
        ([{"ipAddress": ""}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", ""),
        ([{"ipAddress": " 192.0.2.1"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", " 192.0.2.1"),
        ([{"cidrBlock": "192.0.2.0/33"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "192.0.2.0/33"),
        ([{"cidrBlock": "192.0.2.0"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "192.0.2.0"),
        ([{"cidrBlock": "192.0.2.0/"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "192.0.2.0/"),
        ([{"cidrBlock": "192.0.2.0/٢٤"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "192.0.2.0/٢٤"),
        ([{"cidrBlock": "2001:db8::/129"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "2001:db8::/129"),
        ([{"cidrBlock": "example.com/24"}], 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "example.com/24"),
        ([{"ipAddress": None}], 400, "INVALID_JSON_ATTRIBUTE", "[1].ipAddress"),
        ([{"ipAddress": 3232235521}], 400, "INVALID_JSON_ATTRIBUTE", "[1].ipAddress"),
        ([{"ipAddress": "192.0.2.1", "comment": "x"}], 400, "INVALID_ATTRIBUTE", "[1].comment"),
        ([{"ipAddress": "192.0.2.1", "requestCount": 5}], 400, "INVALID_ATTRIBUTE", "[1].requestCount"),
        (
            [{"ipAddress": f"10.0.{i // 256}.{i % 256}"} for i in range(200)],
            400,
            "MAX_ACCESS_LIST_ENTRIES_EXCEEDED",
            None,
        ),
    ],
)
async def test_bad_entries_are_rejected_and_nothing_is_added(
    client: AtlasClient, body: list[dict[str, Any]], status: int, code: str, parameter: str | None
) -> None:
    path = await org_list(client)
    await client.post(path, json=[{"ipAddress": "198.51.100.1"}])
    error = assert_error(
        await client.post(path, json=[{"ipAddress": "198.51.100.2"}, *body]),
        status,
        code,
        None if parameter is None else [parameter],
    )
    if code != "MAX_ACCESS_LIST_ENTRIES_EXCEEDED":
        assert error["badRequestDetail"]["fields"]
    assert cidrs((await client.get(path)).json()) == ["198.51.100.1/32"]


@pytest.mark.parametrize("body", [{"ipAddress": "192.0.2.1"}, "192.0.2.1", None])
async def test_body_must_be_an_array(client: AtlasClient, body: Any) -> None:
    path = await org_list(client)
    response = await client.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["errorCode"] in {"INVALID_JSON", "MALFORMED_JSON"}


async def test_at_most_200_entries(client: AtlasClient) -> None:
    path = await org_list(client)
    first = [{"ipAddress": f"10.0.0.{i}"} for i in range(150)]
    assert (await client.post(path, json=first)).status_code == 200
    over = [{"ipAddress": f"10.0.1.{i}"} for i in range(MAX_ENTRIES_PER_SERVICE_ACCOUNT - 150 + 1)]
    assert_error(await client.post(path, json=over), 400, "MAX_ACCESS_LIST_ENTRIES_EXCEEDED")
    assert (await client.get(path, params={"itemsPerPage": 1})).json()["totalCount"] == 150
    assert (await client.post(path, json=over[:-1])).status_code == 200
    assert (await client.get(path, params={"itemsPerPage": 1})).json()["totalCount"] == MAX_ENTRIES_PER_SERVICE_ACCOUNT


@pytest.mark.parametrize(
    ("entry", "raw"),
    [
        ({"cidrBlock": "192.0.2.0/24"}, "192.0.2.0%2F24"),
        ({"cidrBlock": "192.0.2.0/24"}, "192.0.2.0%2f24"),
        ({"cidrBlock": "192.0.2.0/24"}, "192.0.2.0/24"),
        ({"ipAddress": "203.0.113.10"}, "203.0.113.10"),
        ({"ipAddress": "203.0.113.10"}, "203.0.113.10%2F32"),
        ({"cidrBlock": "2001:db8::/32"}, "2001:db8::%2F32"),
        ({"cidrBlock": "2001:db8::/32"}, "2001:db8:0:0:0:0:0:0%2F32"),
        ({"ipAddress": "2001:db8::1"}, "2001:db8::1"),
        ({"ipAddress": "2001:db8::1"}, "2001%3Adb8%3A%3A1"),
        ({"ipAddress": "2001:db8::1"}, "2001:db8:0:0:0:0:0:1%2F128"),
    ],
)
async def test_delete_entry(client: AtlasClient, entry: dict[str, str], raw: str) -> None:
    path = await org_list(client)
    await client.post(path, json=[entry, {"ipAddress": "198.51.100.1"}])
    response = await client.delete(f"{path}/{raw}")
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert cidrs((await client.get(path)).json()) == ["198.51.100.1/32"]


async def test_delete_unknown_or_invalid_entry(client: AtlasClient) -> None:
    path = await org_list(client)
    await client.post(path, json=[{"cidrBlock": "192.0.2.0/24"}])
    assert_error(await client.delete(f"{path}/192.0.2.1"), 404, "RESOURCE_NOT_FOUND", ["192.0.2.1"])
    assert_error(await client.delete(f"{path}/192.0.2.0%2F25"), 404, "RESOURCE_NOT_FOUND", ["192.0.2.0/25"])
    assert_error(await client.delete(f"{path}/999.0.2.0%2F24"), 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION")
    assert_error(await client.delete(f"{path}/not-an-ip"), 400, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", ["not-an-ip"])
    assert (await client.get(path)).json()["totalCount"] == 1


async def test_both_paths_edit_the_same_list(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await create_group_account(client, group_id)
    org_path = f"{org_account(org_id, account['clientId'])}/accessList"
    group_path = f"{group_account(group_id, account['clientId'])}/accessList"

    via_group = await client.post(group_path, json=[{"ipAddress": "192.0.2.1"}])
    assert via_group.status_code == 200
    assert cidrs((await client.get(org_path)).json()) == ["192.0.2.1/32"]
    assert_error(await client.post(org_path, json=[{"ipAddress": "192.0.2.1"}]), 409, "ADDRESS_ALREADY_IN_ACCESS_LIST")
    await client.post(org_path, json=[{"cidrBlock": "2001:db8::/48"}])
    listed = (await client.get(group_path)).json()
    assert cidrs(listed) == ["192.0.2.1/32", "2001:db8:0:0:0:0:0:0/48"]
    assert (await client.delete(f"{group_path}/2001:db8::%2F48")).status_code == 204
    assert cidrs((await client.get(org_path)).json()) == ["192.0.2.1/32"]
    # Removed from the project, the account's list is no longer reachable through it, and is kept.
    assert (await client.delete(group_account(group_id, account["clientId"]))).status_code == 204
    assert_error(await client.get(group_path), 404, "RESOURCE_NOT_FOUND", [account["clientId"]])
    assert cidrs((await client.get(org_path)).json()) == ["192.0.2.1/32"]


async def test_unknown_accounts_orgs_and_projects(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    unknown = "mdb_sa_id_" + "3" * 24
    for path in (f"{org_account(org_id, unknown)}/accessList", f"{group_account(group_id, unknown)}/accessList"):
        assert_error(await client.get(path), 404, "RESOURCE_NOT_FOUND", [unknown])
        assert_error(await client.post(path, json=[{"ipAddress": "192.0.2.1"}]), 404, "RESOURCE_NOT_FOUND", [unknown])
        assert_error(await client.delete(f"{path}/192.0.2.1"), 404, "RESOURCE_NOT_FOUND", [unknown])
    assert_error(await client.get(f"{org_account('4' * 24, unknown)}/accessList"), 404, "ORG_NOT_FOUND")
    assert_error(await client.get(f"{group_account('4' * 24, unknown)}/accessList"), 404, "GROUP_NOT_FOUND")
    assert_error(await client.get(f"{group_account('nope', unknown)}/accessList"), 404, "INVALID_GROUP_ID")


async def test_entry_path_only_takes_delete(client: AtlasClient) -> None:
    path = await org_list(client)
    response = await client.get(f"{path}/192.0.2.1")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "DELETE"


async def test_an_account_cannot_remove_the_address_it_calls_from(client: AtlasClient) -> None:
    if not hasattr(client, "as_service_account"):
        pytest.skip("needs authentication (service-account callers)")
    org_id = await client.create_org()
    caller = await client.as_service_account(org_id, ["ORG_OWNER"])
    assert caller.account is not None
    own_list = f"{org_account(org_id, caller.account.client_id)}/accessList"
    # The test transport calls from 203.0.113.7.
    await client.post(own_list, json=[{"ipAddress": "203.0.113.7"}, {"ipAddress": "198.51.100.9"}])

    refused = await caller.delete(f"{own_list}/203.0.113.7")
    assert_error(refused, 400, "CANNOT_REMOVE_CALLER_FROM_ACCESS_LIST", ["203.0.113.7"])
    assert (await caller.delete(f"{own_list}/198.51.100.9")).status_code == 204
    # Once a wider entry also admits the caller, the narrow one may go; the last one admitting it may not.
    await caller.post(own_list, json=[{"cidrBlock": "203.0.113.0/24"}])
    assert (await caller.delete(f"{own_list}/203.0.113.7")).status_code == 204
    assert_error(await caller.delete(f"{own_list}/203.0.113.0%2F24"), 400, "CANNOT_REMOVE_CALLER_FROM_ACCESS_LIST")
    # Another account (the org owner) may remove it.
    assert (await client.delete(f"{own_list}/203.0.113.0%2F24")).status_code == 204


async def test_the_200_entry_limit_holds_under_concurrent_adds(client: AtlasClient) -> None:
    path = await org_list(client)
    batches = [[{"ipAddress": f"10.{b}.0.{i}"} for i in range(60)] for b in range(5)]
    responses = await asyncio.gather(*(client.post(path, json=batch) for batch in batches))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 400, 400]
    assert (await client.get(path, params={"itemsPerPage": 1})).json()["totalCount"] == 180
