"""Organization service accounts over real HTTP: listOrgServiceAccounts, createOrgServiceAccount,
getOrgServiceAccount, updateOrgServiceAccount, deleteOrgServiceAccount, getServiceAccountGroups."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select, update

from atlas_sa.kit.db import Database
from atlas_sa.models import AccessListEntry, Organization, ProjectAssignment, ServiceAccount, ServiceAccountSecret
from tests.service_accounts.support import (
    SA_MEDIA_TYPE,
    V2,
    assert_error,
    create_group_account,
    create_org_account,
    group_account,
    org_account,
    org_accounts,
    org_body,
    org_total,
)
from tests.support.client import AtlasClient

SECRET_RE = re.compile(r"^mdb_sa_sk_[A-Za-z0-9_-]{40}$")
CLIENT_ID_RE = re.compile(r"^mdb_sa_id_[a-f0-9]{24}$")


async def test_create_returns_the_secret_once(client: AtlasClient) -> None:
    org_id = await client.create_org()
    response = await client.post(org_accounts(org_id), json=org_body(roles=["ORG_OWNER", "ORG_BILLING_ADMIN"]))
    assert response.status_code == 201
    assert response.headers["content-type"] == SA_MEDIA_TYPE
    account = response.json()
    assert CLIENT_ID_RE.match(account["clientId"])
    assert account["createdAt"] == "2026-01-15T12:00:00Z"
    assert account["name"] == "ci-bot"
    assert account["description"] == "Deploys things"
    assert account["roles"] == ["ORG_OWNER", "ORG_BILLING_ADMIN"]
    assert account["systemManaged"] is False
    [secret] = account["secrets"]
    assert set(secret) == {"createdAt", "expiresAt", "id", "secret"}
    assert SECRET_RE.match(secret["secret"])
    assert secret["createdAt"] == "2026-01-15T12:00:00Z"
    assert secret["expiresAt"] == "2026-01-16T12:00:00Z"

    fetched = await client.get(org_account(org_id, account["clientId"]))
    assert fetched.status_code == 200
    [stored] = fetched.json()["secrets"]
    assert "secret" not in stored
    assert stored["maskedSecretValue"] == "mdb_sa_sk_..." + secret["secret"][-4:]
    assert stored["id"] == secret["id"]
    assert {k: v for k, v in fetched.json().items() if k != "secrets"} == {
        k: v for k, v in account.items() if k != "secrets"
    }
    assert secret["secret"] not in fetched.text


async def test_each_secret_is_new(client: AtlasClient) -> None:
    org_id = await client.create_org()
    made = [await create_org_account(client, org_id) for _ in range(3)]
    assert len({a["clientId"] for a in made}) == 3
    assert len({a["secrets"][0]["secret"] for a in made}) == 3


async def test_without_initial_secret(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id, secretExpiresAfterHours=..., withoutInitialSecret=True)
    assert account["secrets"] == []
    both = await client.post(org_accounts(org_id), json=org_body(withoutInitialSecret=True))
    assert_error(both, 400, "INVALID_ATTRIBUTE", ["secretExpiresAfterHours"])
    explicit_false = await client.post(org_accounts(org_id), json=org_body(withoutInitialSecret=False))
    assert explicit_false.status_code == 201
    assert len(explicit_false.json()["secrets"]) == 1


async def test_name_and_description_accept_unicode_letters_and_digits(client: AtlasClient) -> None:
    org_id = await client.create_org()
    name = "Zoë-Ünïcødé_名前.٣, l'été"
    account = await create_org_account(client, org_id, name=name, description="Ελληνικά ١٢٣ 日本語")
    assert account["name"] == name
    assert account["description"] == "Ελληνικά ١٢٣ 日本語"


@pytest.mark.parametrize(
    ("overrides", "code", "parameter"),
    [
        ({"name": ...}, "MISSING_ATTRIBUTE", "name"),
        ({"description": ...}, "MISSING_ATTRIBUTE", "description"),
        ({"roles": ...}, "MISSING_ATTRIBUTE", "roles"),
        ({"secretExpiresAfterHours": ...}, "MISSING_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"name": ""}, "INVALID_ATTRIBUTE", "name"),
        ({"name": "x" * 65}, "INVALID_ATTRIBUTE", "name"),
        ({"name": "<script>"}, "INVALID_ATTRIBUTE", "name"),
        ({"name": "tab\there"}, "INVALID_ATTRIBUTE", "name"),
        ({"description": "d" * 251}, "INVALID_ATTRIBUTE", "description"),
        ({"description": "semi;colon"}, "INVALID_ATTRIBUTE", "description"),
        ({"roles": []}, "INVALID_ATTRIBUTE", "roles"),
        ({"roles": ["ORG_WIZARD"]}, "INVALID_ENUM_VALUE", "ORG_WIZARD"),
        ({"roles": ["GROUP_OWNER"]}, "INVALID_ENUM_VALUE", "GROUP_OWNER"),
        ({"roles": ["org_owner"]}, "INVALID_ENUM_VALUE", "org_owner"),
        ({"roles": "ORG_OWNER"}, "INVALID_JSON_ATTRIBUTE", "roles"),
        ({"roles": [1]}, "INVALID_JSON_ATTRIBUTE", "roles[0]"),
        ({"name": 5}, "INVALID_JSON_ATTRIBUTE", "name"),
        ({"secretExpiresAfterHours": "24"}, "INVALID_JSON_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": 24.5}, "INVALID_JSON_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": True}, "INVALID_JSON_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": None}, "INVALID_JSON_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": 0}, "INVALID_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": 7}, "INVALID_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": 8761}, "INVALID_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"secretExpiresAfterHours": 2**40}, "INVALID_ATTRIBUTE", "secretExpiresAfterHours"),
        ({"withoutInitialSecret": "yes"}, "INVALID_JSON_ATTRIBUTE", "withoutInitialSecret"),
        ({"apiKey": {}}, "INVALID_ATTRIBUTE", "apiKey"),
    ],
)
async def test_create_rejects_bad_bodies_and_changes_nothing(
    client: AtlasClient, overrides: dict[str, Any], code: str, parameter: str
) -> None:
    org_id = await client.create_org()
    before = await org_total(client, org_id)
    body = assert_error(await client.post(org_accounts(org_id), json=org_body(**overrides)), 400, code, [parameter])
    assert body["badRequestDetail"]["fields"], body
    assert await org_total(client, org_id) == before


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"{", "MALFORMED_JSON"), (b"[]", "INVALID_JSON"), (b'"x"', "INVALID_JSON"), (b"", "MALFORMED_JSON")],
)
async def test_create_rejects_unparseable_bodies(client: AtlasClient, content: bytes, code: str) -> None:
    org_id = await client.create_org()
    before = await org_total(client, org_id)
    response = await client.post(org_accounts(org_id), content=content, headers={"Content-Type": "application/json"})
    assert_error(response, 400, code)
    assert await org_total(client, org_id) == before


async def test_validity_bounds_follow_the_org_setting(client: AtlasClient, db: Database) -> None:
    org_id = await client.create_org()
    assert (await client.post(org_accounts(org_id), json=org_body(secretExpiresAfterHours=8))).status_code == 201
    assert (await client.post(org_accounts(org_id), json=org_body(secretExpiresAfterHours=8760))).status_code == 201
    async with db.unit_of_work() as session:
        await session.execute(
            update(Organization).where(Organization.id == org_id).values(max_secret_validity_hours=48)
        )
    too_long = await client.post(org_accounts(org_id), json=org_body(secretExpiresAfterHours=49))
    body = assert_error(too_long, 400, "INVALID_ATTRIBUTE", ["secretExpiresAfterHours"])
    assert "48" in body["badRequestDetail"]["fields"][0]["description"]
    made = await create_org_account(client, org_id, secretExpiresAfterHours=48)
    assert made["secrets"][0]["expiresAt"] == "2026-01-17T12:00:00Z"


async def test_roles_are_deduplicated(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id, roles=["ORG_MEMBER", "ORG_READ_ONLY", "ORG_MEMBER"])
    assert account["roles"] == ["ORG_MEMBER", "ORG_READ_ONLY"]


async def test_list_pages_and_links(client: AtlasClient) -> None:
    org_id = await client.create_org()
    before = await org_total(client, org_id)
    made = [(await create_org_account(client, org_id, name=f"bot{i}"))["clientId"] for i in range(5)]
    listed = await client.get(org_accounts(org_id))
    assert listed.status_code == 200
    assert listed.headers["content-type"] == SA_MEDIA_TYPE
    body = listed.json()
    assert body["totalCount"] == before + 5
    ids = [a["clientId"] for a in body["results"]]
    assert ids[-5:] == made
    for account in body["results"]:
        assert account["systemManaged"] is False
        for secret in account["secrets"]:
            assert "secret" not in secret
            assert secret["maskedSecretValue"].startswith("mdb_sa_sk_...")

    page = (await client.get(org_accounts(org_id), params={"itemsPerPage": 2, "pageNum": 2})).json()
    assert [a["clientId"] for a in page["results"]] == ids[2:4]
    assert page["totalCount"] == before + 5
    links = {link["rel"]: link["href"] for link in page["links"]}
    assert links["self"] == f"http://atlas.test{org_accounts(org_id)}?pageNum=2&itemsPerPage=2"
    assert links["previous"] == f"http://atlas.test{org_accounts(org_id)}?itemsPerPage=2&pageNum=1"
    assert links["next"] == f"http://atlas.test{org_accounts(org_id)}?itemsPerPage=2&pageNum=3"

    past_end = (await client.get(org_accounts(org_id), params={"pageNum": 99})).json()
    assert past_end["results"] == []
    assert past_end["totalCount"] == before + 5


@pytest.mark.parametrize("value", ["true", "false"])
async def test_list_accepts_include_system_managed(client: AtlasClient, value: str) -> None:
    org_id = await client.create_org()
    before = await org_total(client, org_id)
    await create_org_account(client, org_id)
    body = (await client.get(org_accounts(org_id), params={"includeSystemManaged": value})).json()
    assert body["totalCount"] == before + 1
    assert all(a["systemManaged"] is False for a in body["results"])


async def test_system_managed_accounts_are_hidden_unless_asked_for(client: AtlasClient, db: Database) -> None:
    org_id = await client.create_org()
    before = await org_total(client, org_id)
    made = await create_org_account(client, org_id)
    async with db.unit_of_work() as session:
        await session.execute(
            update(ServiceAccount).where(ServiceAccount.client_id == made["clientId"]).values(system_managed=True)
        )
    assert await org_total(client, org_id) == before
    shown = (await client.get(org_accounts(org_id), params={"includeSystemManaged": "true"})).json()
    assert made["clientId"] in [a["clientId"] for a in shown["results"]]


@pytest.mark.parametrize(
    "params",
    [{"itemsPerPage": 0}, {"itemsPerPage": 501}, {"pageNum": -1}, {"includeSystemManaged": "maybe"}],
)
async def test_list_rejects_bad_query_parameters(client: AtlasClient, params: dict[str, Any]) -> None:
    org_id = await client.create_org()
    assert_error(await client.get(org_accounts(org_id), params=params), 400, "INVALID_QUERY_PARAMETER")


async def test_envelope_and_pretty(client: AtlasClient) -> None:
    org_id = await client.create_org()
    response = await client.post(org_accounts(org_id), params={"envelope": "true", "pretty": "true"}, json=org_body())
    assert response.status_code == 201
    assert response.text.startswith("{\n")
    body = response.json()
    assert body["status"] == 201
    assert body["content"]["systemManaged"] is False
    listed = (await client.get(org_accounts(org_id), params={"envelope": "true"})).json()
    assert listed["status"] == 200
    assert "results" in listed


async def test_update_changes_only_what_is_sent(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id, roles=["ORG_OWNER"])
    path = org_account(org_id, account["clientId"])

    renamed = await client.patch(path, json={"name": "renamed"})
    assert renamed.status_code == 200
    assert renamed.headers["content-type"] == SA_MEDIA_TYPE
    assert renamed.json()["name"] == "renamed"
    assert renamed.json()["description"] == "Deploys things"
    assert renamed.json()["roles"] == ["ORG_OWNER"]

    reroled = (await client.patch(path, json={"roles": ["ORG_READ_ONLY", "ORG_BILLING_READ_ONLY"]})).json()
    assert reroled["roles"] == ["ORG_READ_ONLY", "ORG_BILLING_READ_ONLY"]
    assert reroled["name"] == "renamed"

    described = (await client.patch(path, json={"description": "new words"})).json()
    assert described["description"] == "new words"
    assert described["roles"] == ["ORG_READ_ONLY", "ORG_BILLING_READ_ONLY"]

    unchanged = await client.patch(path, json={})
    assert unchanged.status_code == 200
    assert unchanged.json() == described
    assert (await client.get(path)).json() == described
    # The update response shows the stored secret masked, as every read does.
    assert "secret" not in described["secrets"][0]


@pytest.mark.parametrize(
    ("patch", "code", "parameter"),
    [
        ({"roles": []}, "INVALID_ATTRIBUTE", "roles"),
        ({"roles": ["ORG_WIZARD"]}, "INVALID_ENUM_VALUE", "ORG_WIZARD"),
        ({"roles": None}, "INVALID_JSON_ATTRIBUTE", "roles"),
        ({"name": None}, "INVALID_JSON_ATTRIBUTE", "name"),
        ({"name": ""}, "INVALID_ATTRIBUTE", "name"),
        ({"description": "x" * 251}, "INVALID_ATTRIBUTE", "description"),
        ({"clientId": "mdb_sa_id_" + "0" * 24}, "INVALID_ATTRIBUTE", "clientId"),
        ({"secretExpiresAfterHours": 24}, "INVALID_ATTRIBUTE", "secretExpiresAfterHours"),
    ],
)
async def test_update_rejects_bad_bodies_and_changes_nothing(
    client: AtlasClient, patch: dict[str, Any], code: str, parameter: str
) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id)
    path = org_account(org_id, account["clientId"])
    before = (await client.get(path)).json()
    assert_error(await client.patch(path, json=patch), 400, code, [parameter])
    assert (await client.get(path)).json() == before


async def test_delete_removes_everything_the_account_had(client: AtlasClient, db: Database) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    account = await create_org_account(client, org_id)
    client_id = account["clientId"]
    assert (
        await client.post(f"{group_account(group_id, client_id)}:invite", json={"roles": ["GROUP_OWNER"]})
    ).status_code == 200
    assert (
        await client.post(f"{org_account(org_id, client_id)}/accessList", json=[{"ipAddress": "192.0.2.1"}])
    ).status_code == 200
    before = await org_total(client, org_id)

    deleted = await client.delete(org_account(org_id, client_id))
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(await client.get(org_account(org_id, client_id)), 404, "RESOURCE_NOT_FOUND", [client_id])
    assert_error(await client.get(group_account(group_id, client_id)), 404, "RESOURCE_NOT_FOUND", [client_id])
    assert_error(await client.delete(org_account(org_id, client_id)), 404, "RESOURCE_NOT_FOUND", [client_id])
    assert await org_total(client, org_id) == before - 1
    account_id = client_id.removeprefix("mdb_sa_id_")
    async with db.unit_of_work() as session:
        assert (await session.get(ServiceAccount, account_id)) is None
        for column in (
            ProjectAssignment.service_account_id,
            ServiceAccountSecret.service_account_id,
            AccessListEntry.service_account_id,
        ):
            count = (await session.execute(select(func.count()).where(column == account_id))).scalar_one()
            assert count == 0, column


async def test_project_assignments(client: AtlasClient) -> None:
    org_id = await client.create_org()
    first = await client.create_project(org_id, "first")
    second = await client.create_project(org_id, "second")
    account = await create_group_account(client, first, roles=["GROUP_OWNER", "GROUP_READ_ONLY"])
    client_id = account["clientId"]
    path = f"{org_account(org_id, client_id)}/groups"

    body = (await client.get(path)).json()
    assert body["results"] == [{"groupId": first, "roles": ["GROUP_OWNER", "GROUP_READ_ONLY"]}]
    assert body["totalCount"] == 1

    await client.post(f"{group_account(second, client_id)}:invite", json={"roles": ["GROUP_DATA_ACCESS_READ_ONLY"]})
    body = (await client.get(path)).json()
    assert sorted(body["results"], key=lambda r: r["groupId"]) == sorted(
        [
            {"groupId": first, "roles": ["GROUP_OWNER", "GROUP_READ_ONLY"]},
            {"groupId": second, "roles": ["GROUP_DATA_ACCESS_READ_ONLY"]},
        ],
        key=lambda r: r["groupId"],
    )
    one = (await client.get(path, params={"itemsPerPage": 1, "pageNum": 2})).json()
    assert one["totalCount"] == 2
    assert len(one["results"]) == 1

    none = await create_org_account(client, org_id)
    assert (await client.get(f"{org_account(org_id, none['clientId'])}/groups")).json()["results"] == []


@pytest.mark.parametrize(
    ("method", "suffix", "json"),
    [
        ("GET", "", None),
        ("PATCH", "", {"name": "x"}),
        ("DELETE", "", None),
        ("GET", "/groups", None),
        ("POST", "/secrets", {"secretExpiresAfterHours": 24}),
        ("DELETE", "/secrets/" + "a" * 24, None),
        ("GET", "/accessList", None),
        ("POST", "/accessList", [{"ipAddress": "192.0.2.1"}]),
        ("DELETE", "/accessList/192.0.2.1", None),
    ],
)
async def test_unknown_malformed_and_foreign_accounts_are_not_found(
    client: AtlasClient, method: str, suffix: str, json: Any
) -> None:
    other_org = await client.create_org("other")
    foreign = (await create_org_account(client, other_org))["clientId"]
    # From here on the client is (once authentication lands) an owner of ``org_id`` only.
    org_id = await client.create_org("mine")
    for client_id in ("mdb_sa_id_" + "0" * 24, "not-a-client-id", "mdb_sa_id_XYZ", foreign):
        response = await client.request(method, org_account(org_id, client_id) + suffix, json=json)
        assert_error(response, 404, "RESOURCE_NOT_FOUND", [client_id])
    unknown_org = "5" * 24
    response = await client.request(method, org_account(unknown_org, foreign) + suffix, json=json)
    assert_error(response, 404, "ORG_NOT_FOUND", [unknown_org])
    response = await client.request(method, org_account("nope", foreign) + suffix, json=json)
    assert_error(response, 404, "INVALID_ORG_ID", ["nope"])


async def test_unknown_org_on_collection(client: AtlasClient) -> None:
    await client.create_org()
    assert_error(await client.get(org_accounts("6" * 24)), 404, "ORG_NOT_FOUND", ["6" * 24])
    assert_error(await client.post(org_accounts("bad"), json=org_body()), 404, "INVALID_ORG_ID", ["bad"])


async def test_unknown_methods_are_405(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id)
    response = await client.put(org_account(org_id, account["clientId"]), json={})
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}


async def test_v2_paths_need_the_sa_version(client: AtlasClient) -> None:
    org_id = await client.create_org()
    too_old = await client.get(org_accounts(org_id), headers={"Accept": "application/vnd.atlas.2024-05-30+json"})
    assert_error(too_old, 406, "INVALID_VERSION_DATE")
    exact = await client.get(org_accounts(org_id), headers={"Accept": "application/vnd.atlas.2024-08-05+json"})
    assert exact.status_code == 200
    assert exact.headers["content-type"] == SA_MEDIA_TYPE
    assert (await client.get(f"{V2}/orgs/{org_id}")).status_code == 200


async def test_responses_here_are_checked_against_the_contract(client: AtlasClient, contract_checked: Any) -> None:
    org_id = await client.create_org()
    before = contract_checked.by_operation.get("listOrgServiceAccounts", 0)
    await client.get(org_accounts(org_id))
    assert contract_checked.by_operation["listOrgServiceAccounts"] == before + 1


async def test_page_far_past_the_end_is_empty(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id)
    far = {"pageNum": 10**20, "itemsPerPage": 500}
    for path in (
        org_accounts(org_id),
        f"{org_account(org_id, account['clientId'])}/groups",
        f"{org_account(org_id, account['clientId'])}/accessList",
    ):
        response = await client.get(path, params=far)
        assert response.status_code == 200, response.text
        assert response.json()["results"] == []
