"""createOrganization over real HTTP (``atlas_sa.onboarding``): a new organization, with or without its first
service account, and who may create one."""

from __future__ import annotations

from tests.support.client import AtlasClient

ORGS = "/api/atlas/v2/orgs"

FIRST_ACCOUNT = {
    "name": "first owner",
    "description": "the new org's first credential",
    "roles": ["ORG_OWNER"],
    "secretExpiresAfterHours": 24,
}


async def test_create_get_list(client: AtlasClient) -> None:
    home = await client.create_org("home")
    response = await client.post(ORGS, json={"name": "Acme Corp", "serviceAccount": FIRST_ACCOUNT})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/vnd.atlas.2023-01-01+json;charset=utf-8"
    body = response.json()
    org = body["organization"]
    assert org["name"] == "Acme Corp"
    assert org["isDeleted"] is False
    assert len(org["id"]) == 24
    assert org["links"] == [{"href": f"http://atlas.test{ORGS}/{org['id']}", "rel": "self"}]
    account = body["serviceAccount"]
    assert account["roles"] == ["ORG_OWNER"]
    assert account["name"] == "first owner"
    assert account["systemManaged"] is False
    [secret] = account["secrets"]
    assert secret["secret"].startswith("mdb_sa_sk_")
    assert secret["expiresAt"] == "2026-01-16T12:00:00Z"

    # The creator gains no access to the new organization; only the account it carried does.
    assert (await client.get(f"{ORGS}/{org['id']}")).json()["errorCode"] == "USER_UNAUTHORIZED"
    assert [o["id"] for o in (await client.get(ORGS)).json()["results"]] == [home]

    newcomer = client.anonymous()
    await newcomer.login(account["clientId"], secret["secret"])
    fetched = await newcomer.get(f"{ORGS}/{org['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == org
    listed = (await newcomer.get(ORGS)).json()
    assert listed["totalCount"] == 1
    assert listed["results"] == [org]


async def test_create_without_account_and_refusals(client: AtlasClient) -> None:
    org_id = await client.create_org("home")
    plain = await client.post(ORGS, json={"name": "orphan"})
    assert plain.status_code == 201
    assert "serviceAccount" not in plain.json()

    member = await client.as_service_account(org_id, roles=["ORG_READ_ONLY"])
    refused = await member.post(ORGS, json={"name": "nope"})
    assert refused.status_code == 401
    assert refused.json()["errorCode"] == "USER_UNAUTHORIZED"
    assert (await client.anonymous().post(ORGS, json={"name": "nope"})).json()["errorCode"] == "UNAUTHORIZED"


async def test_first_account_validation(client: AtlasClient) -> None:
    await client.create_org("home")
    cases = [
        ({**FIRST_ACCOUNT, "secretExpiresAfterHours": 7}, "INVALID_ATTRIBUTE"),
        ({**FIRST_ACCOUNT, "secretExpiresAfterHours": 8761}, "INVALID_ATTRIBUTE"),
        ({k: v for k, v in FIRST_ACCOUNT.items() if k != "secretExpiresAfterHours"}, "MISSING_ATTRIBUTE"),
        ({**FIRST_ACCOUNT, "roles": ["GROUP_OWNER"]}, "INVALID_ENUM_VALUE"),
        ({**FIRST_ACCOUNT, "roles": []}, "INVALID_ATTRIBUTE"),
        ({**FIRST_ACCOUNT, "withoutInitialSecret": True}, "INVALID_ATTRIBUTE"),
    ]
    for account, code in cases:
        response = await client.post(ORGS, json={"name": "x", "serviceAccount": account})
        assert response.status_code == 400, (account, response.text)
        assert response.json()["errorCode"] == code, account
    assert (await client.get(ORGS)).json()["totalCount"] == 1
