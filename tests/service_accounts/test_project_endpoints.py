"""Project service accounts over real HTTP: listGroupServiceAccounts, createGroupServiceAccount,
getGroupServiceAccount, updateGroupServiceAccount, deleteGroupServiceAccount, inviteGroupServiceAccount."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.service_accounts.support import (
    SA_MEDIA_TYPE,
    assert_error,
    create_group_account,
    create_org_account,
    group_account,
    group_accounts,
    group_body,
    org_account,
    org_total,
)
from tests.support.client import AtlasClient


def invite_path(group_id: str, client_id: str) -> str:
    return f"{group_account(group_id, client_id)}:invite"


async def test_create_joins_org_as_member_and_project_with_roles(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    before = await org_total(client, org_id)
    response = await client.post(group_accounts(group_id), json=group_body(roles=["GROUP_OWNER", "GROUP_READ_ONLY"]))
    assert response.status_code == 201
    assert response.headers["content-type"] == SA_MEDIA_TYPE
    account = response.json()
    assert account["roles"] == ["GROUP_OWNER", "GROUP_READ_ONLY"]
    assert account["systemManaged"] is False
    assert account["secrets"][0]["secret"].startswith("mdb_sa_sk_")
    client_id = account["clientId"]

    in_org = (await client.get(org_account(org_id, client_id))).json()
    assert in_org["roles"] == ["ORG_MEMBER"]
    assert await org_total(client, org_id) == before + 1
    fetched = (await client.get(group_account(group_id, client_id))).json()
    assert fetched["roles"] == ["GROUP_OWNER", "GROUP_READ_ONLY"]
    assert fetched["secrets"][0]["maskedSecretValue"] == "mdb_sa_sk_..." + account["secrets"][0]["secret"][-4:]
    assert (await client.get(f"{org_account(org_id, client_id)}/groups")).json()["results"] == [
        {"groupId": group_id, "roles": ["GROUP_OWNER", "GROUP_READ_ONLY"]}
    ]


async def test_create_without_initial_secret(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    made = await create_group_account(client, group_id, secretExpiresAfterHours=..., withoutInitialSecret=True)
    assert made["secrets"] == []
    both = await client.post(group_accounts(group_id), json=group_body(withoutInitialSecret=True))
    assert_error(both, 400, "INVALID_ATTRIBUTE", ["secretExpiresAfterHours"])


@pytest.mark.parametrize(
    ("overrides", "code", "parameter"),
    [
        ({"roles": ["ORG_OWNER"]}, "INVALID_ENUM_VALUE", "ORG_OWNER"),
        ({"roles": ["GROUP_EMPEROR"]}, "INVALID_ENUM_VALUE", "GROUP_EMPEROR"),
        ({"roles": []}, "INVALID_ATTRIBUTE", "roles"),
        ({"name": "x" * 65}, "INVALID_ATTRIBUTE", "name"),
        ({"description": ...}, "MISSING_ATTRIBUTE", "description"),
        ({"secretExpiresAfterHours": ...}, "MISSING_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": 1}, "INVALID_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"extra": 1}, "INVALID_ATTRIBUTE", "extra"),
    ],
)
async def test_create_rejects_bad_bodies(
    client: AtlasClient, overrides: dict[str, Any], code: str, parameter: str
) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    before = await org_total(client, org_id)
    assert_error(await client.post(group_accounts(group_id), json=group_body(**overrides)), 400, code, [parameter])
    assert await org_total(client, org_id) == before
    assert (await client.get(group_accounts(group_id))).json()["totalCount"] == 0


async def test_list_shows_only_accounts_in_the_project(client: AtlasClient) -> None:
    org_id = await client.create_org()
    first = await client.create_project(org_id, "first")
    second = await client.create_project(org_id, "second")
    a = await create_group_account(client, first, name="a", roles=["GROUP_OWNER"])
    b = await create_group_account(client, first, name="b")
    await create_group_account(client, second, name="c")
    await create_org_account(client, org_id, name="not-in-any-project")
    body = (await client.get(group_accounts(first))).json()
    assert body["totalCount"] == 2
    assert [x["clientId"] for x in body["results"]] == [a["clientId"], b["clientId"]]
    assert body["results"][0]["roles"] == ["GROUP_OWNER"]
    assert "secret" not in body["results"][0]["secrets"][0]
    page = (await client.get(group_accounts(first), params={"itemsPerPage": 1, "pageNum": 2})).json()
    assert [x["clientId"] for x in page["results"]] == [b["clientId"]]
    flagged = await client.get(group_accounts(first), params={"includeSystemManaged": "true"})
    assert flagged.json()["totalCount"] == 2


async def test_invite_assigns_and_then_replaces_roles(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await create_org_account(client, org_id, roles=["ORG_MEMBER"])
    client_id = account["clientId"]
    assert_error(await client.get(group_account(group_id, client_id)), 404, "RESOURCE_NOT_FOUND", [client_id])

    invited = await client.post(invite_path(group_id, client_id), json={"roles": ["GROUP_READ_ONLY"]})
    assert invited.status_code == 200
    assert invited.headers["content-type"] == SA_MEDIA_TYPE
    assert invited.json()["roles"] == ["GROUP_READ_ONLY"]
    assert invited.json()["clientId"] == client_id
    assert (await client.get(group_account(group_id, client_id))).json()["roles"] == ["GROUP_READ_ONLY"]

    again = await client.post(
        invite_path(group_id, client_id), json={"roles": ["GROUP_OWNER", "GROUP_CLUSTER_MANAGER"]}
    )
    assert again.status_code == 200
    assert again.json()["roles"] == ["GROUP_OWNER", "GROUP_CLUSTER_MANAGER"]
    assert (await client.get(f"{org_account(org_id, client_id)}/groups")).json()["results"] == [
        {"groupId": group_id, "roles": ["GROUP_OWNER", "GROUP_CLUSTER_MANAGER"]}
    ]
    # Inviting into a project leaves the account's organization roles alone.
    assert (await client.get(org_account(org_id, client_id))).json()["roles"] == ["ORG_MEMBER"]


@pytest.mark.parametrize(
    ("body", "code", "parameter"),
    [
        ({"roles": []}, "INVALID_ATTRIBUTE", "roles"),
        ({"roles": ["GROUP_OWNER", "GROUP_OWNER"]}, "INVALID_ATTRIBUTE", "roles"),
        ({"roles": ["ORG_OWNER"]}, "INVALID_ENUM_VALUE", "ORG_OWNER"),
        ({}, "MISSING_ATTRIBUTE", "roles"),
        ({"roles": ["GROUP_OWNER"], "name": "x"}, "INVALID_ATTRIBUTE", "name"),
    ],
)
async def test_invite_rejects_bad_bodies(client: AtlasClient, body: dict[str, Any], code: str, parameter: str) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await create_org_account(client, org_id)
    assert_error(await client.post(invite_path(group_id, account["clientId"]), json=body), 400, code, [parameter])
    assert (await client.get(f"{org_account(org_id, account['clientId'])}/groups")).json()["results"] == []


async def test_invite_of_unknown_or_foreign_accounts(client: AtlasClient) -> None:
    other_org = await client.create_org("other")
    foreign = (await create_org_account(client, other_org))["clientId"]
    org_id = await client.create_org("mine")
    group_id = await client.create_project(org_id)
    for client_id in (foreign, "mdb_sa_id_" + "1" * 24, "garbage"):
        response = await client.post(invite_path(group_id, client_id), json={"roles": ["GROUP_OWNER"]})
        assert_error(response, 404, "RESOURCE_NOT_FOUND", [client_id])
    response = await client.post(invite_path("7" * 24, foreign), json={"roles": ["GROUP_OWNER"]})
    assert_error(response, 404, "GROUP_NOT_FOUND", ["7" * 24])
    response = await client.post(invite_path("xyz", foreign), json={"roles": ["GROUP_OWNER"]})
    assert_error(response, 404, "INVALID_GROUP_ID", ["xyz"])


async def test_invite_path_only_takes_post(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await create_org_account(client, org_id)
    response = await client.get(invite_path(group_id, account["clientId"]))
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"
    unknown_action = await client.post(f"{group_account(group_id, account['clientId'])}:promote", json={})
    assert_error(unknown_action, 404, "NOT_FOUND")


async def test_update_project_roles_and_account_wide_fields(client: AtlasClient) -> None:
    org_id = await client.create_org()
    first = await client.create_project(org_id, "first")
    second = await client.create_project(org_id, "second")
    account = await create_group_account(client, first, roles=["GROUP_OWNER"])
    client_id = account["clientId"]
    await client.post(invite_path(second, client_id), json={"roles": ["GROUP_READ_ONLY"]})

    updated = await client.patch(group_account(first, client_id), json={"roles": ["GROUP_SEARCH_INDEX_EDITOR"]})
    assert updated.status_code == 200
    assert updated.json()["roles"] == ["GROUP_SEARCH_INDEX_EDITOR"]
    assert updated.json()["name"] == account["name"]
    assert (await client.get(group_account(second, client_id))).json()["roles"] == ["GROUP_READ_ONLY"]
    assert (await client.get(org_account(org_id, client_id))).json()["roles"] == ["ORG_MEMBER"]

    renamed = (await client.patch(group_account(first, client_id), json={"name": "renamed", "description": "d"})).json()
    assert renamed["roles"] == ["GROUP_SEARCH_INDEX_EDITOR"]
    assert (await client.get(org_account(org_id, client_id))).json()["name"] == "renamed"
    assert (await client.get(group_account(second, client_id))).json()["description"] == "d"


@pytest.mark.parametrize(
    ("patch", "code", "parameter"),
    [
        ({"roles": []}, "INVALID_ATTRIBUTE", "roles"),
        ({"roles": ["ORG_OWNER"]}, "INVALID_ENUM_VALUE", "ORG_OWNER"),
        ({"roles": None}, "INVALID_JSON_ATTRIBUTE", "roles"),
        ({"description": ""}, "INVALID_ATTRIBUTE", "description"),
    ],
)
async def test_update_rejects_bad_bodies(client: AtlasClient, patch: dict[str, Any], code: str, parameter: str) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await create_group_account(client, group_id)
    path = group_account(group_id, account["clientId"])
    before = (await client.get(path)).json()
    assert_error(await client.patch(path, json=patch), 400, code, [parameter])
    assert (await client.get(path)).json() == before


async def test_delete_removes_from_the_project_only(client: AtlasClient) -> None:
    org_id = await client.create_org()
    first = await client.create_project(org_id, "first")
    second = await client.create_project(org_id, "second")
    account = await create_group_account(client, first)
    client_id = account["clientId"]
    await client.post(invite_path(second, client_id), json={"roles": ["GROUP_OWNER"]})

    deleted = await client.delete(group_account(first, client_id))
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(await client.get(group_account(first, client_id)), 404, "RESOURCE_NOT_FOUND", [client_id])
    assert_error(await client.delete(group_account(first, client_id)), 404, "RESOURCE_NOT_FOUND", [client_id])
    assert (await client.get(group_accounts(first))).json()["totalCount"] == 0
    remaining = (await client.get(org_account(org_id, client_id))).json()
    assert remaining["roles"] == ["ORG_MEMBER"]
    assert remaining["secrets"][0]["id"] == account["secrets"][0]["id"]
    assert (await client.get(group_account(second, client_id))).status_code == 200
    # Removed from its last project, a project-created account stays in the organization.
    assert (await client.delete(group_account(second, client_id))).status_code == 204
    assert (await client.get(org_account(org_id, client_id))).status_code == 200


async def test_deleting_the_project_removes_only_assignments(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await create_group_account(client, group_id)
    assert (await client.delete(f"/api/atlas/v2/groups/{group_id}")).status_code == 204
    assert (await client.get(org_account(org_id, account["clientId"]))).status_code == 200
    assert (await client.get(f"{org_account(org_id, account['clientId'])}/groups")).json()["results"] == []


@pytest.mark.parametrize(
    ("method", "suffix", "json"),
    [
        ("GET", "", None),
        ("PATCH", "", {"name": "x"}),
        ("DELETE", "", None),
        ("POST", "/secrets", {"secretExpiresAfterHours": 24}),
        ("DELETE", "/secrets/" + "b" * 24, None),
        ("GET", "/accessList", None),
        ("POST", "/accessList", [{"ipAddress": "192.0.2.1"}]),
        ("DELETE", "/accessList/192.0.2.1", None),
    ],
)
async def test_accounts_outside_the_project_are_not_found(
    client: AtlasClient, method: str, suffix: str, json: Any
) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id, "here")
    elsewhere = await client.create_project(org_id, "elsewhere")
    unassigned = (await create_org_account(client, org_id))["clientId"]
    assigned_elsewhere = (await create_group_account(client, elsewhere))["clientId"]
    for client_id in (unassigned, assigned_elsewhere, "mdb_sa_id_" + "2" * 24, "bad-id"):
        response = await client.request(method, group_account(group_id, client_id) + suffix, json=json)
        assert_error(response, 404, "RESOURCE_NOT_FOUND", [client_id])
    response = await client.request(method, group_account("8" * 24, unassigned) + suffix, json=json)
    assert_error(response, 404, "GROUP_NOT_FOUND", ["8" * 24])
    response = await client.request(method, group_account("not-hex", unassigned) + suffix, json=json)
    assert_error(response, 404, "INVALID_GROUP_ID", ["not-hex"])


async def test_unknown_project_on_collection(client: AtlasClient) -> None:
    await client.create_org()
    assert_error(await client.get(group_accounts("9" * 24)), 404, "GROUP_NOT_FOUND", ["9" * 24])
    assert_error(await client.post(group_accounts("zz"), json=group_body()), 404, "INVALID_GROUP_ID", ["zz"])


async def test_concurrent_invites_leave_one_assignment(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await create_org_account(client, org_id)
    role_sets = [["GROUP_READ_ONLY"], ["GROUP_OWNER"]] * 6
    path = invite_path(group_id, account["clientId"])
    responses = await asyncio.gather(*(client.post(path, json={"roles": roles}) for roles in role_sets))
    assert [r.status_code for r in responses] == [200] * len(role_sets)
    groups = (await client.get(f"{org_account(org_id, account['clientId'])}/groups")).json()["results"]
    assert len(groups) == 1
    assert groups[0]["roles"] in role_sets


async def test_creates_and_invites_racing_a_project_delete_never_fail_with_500(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    invitee = await create_org_account(client, org_id)
    requests = [client.post(group_accounts(group_id), json=group_body(name=f"racer{i}")) for i in range(8)]
    requests += [client.post(invite_path(group_id, invitee["clientId"]), json={"roles": ["GROUP_OWNER"]})]
    requests.insert(4, client.delete(f"/api/atlas/v2/groups/{group_id}"))
    responses = await asyncio.gather(*requests)
    for response in responses:
        assert response.status_code in (200, 201, 204, 404), response.text
        if response.status_code == 404:
            assert response.json()["errorCode"] == "GROUP_NOT_FOUND"
    assert_error(await client.get(group_accounts(group_id)), 404, "GROUP_NOT_FOUND")
    # Whatever won, no assignment to the deleted project survives.
    groups = (await client.get(f"{org_account(org_id, invitee['clientId'])}/groups")).json()
    assert groups["results"] == []


async def test_updates_racing_deletes_are_404_not_500(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await create_group_account(client, group_id)
    client_id = account["clientId"]
    in_project = group_account(group_id, client_id)
    requests = [client.patch(in_project, json={"roles": ["GROUP_OWNER"], "name": f"n{i}"}) for i in range(6)]
    requests.insert(3, client.delete(in_project))
    requests += [client.post(invite_path(group_id, client_id), json={"roles": ["GROUP_READ_ONLY"]})]
    requests += [client.patch(org_account(org_id, client_id), json={"name": f"o{i}"}) for i in range(4)]
    requests.insert(9, client.delete(org_account(org_id, client_id)))
    responses = await asyncio.gather(*requests)
    for response in responses:
        assert response.status_code in (200, 204, 404), response.text
    assert_error(await client.get(org_account(org_id, client_id)), 404, "RESOURCE_NOT_FOUND")
