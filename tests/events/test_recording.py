"""Every write operation records exactly the event it should, in the transaction of its change: type, actor
(``userId``/``username`` of a service account, ``apiKeyId``/``publicKey`` of an API key), target (in ``raw``),
organization and project, and the caller's address; a refused request records nothing, and neither does a write
that changes nothing or a token issuance. The command line's writes are the CLI's events.

Each case runs on a fresh scene: an organization "home" (bootstrap), its project, an organization account "alpha"
and a project account "beta" (one secret and one access-list entry each), and an access-list entry for the owner's
own address, made through the API before the marker. The owner then reads the events back.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from atlas_sa.models import ApiKey
from atlas_sa.settings import Settings
from tests.events.support import OWNER_ADDRESS, V2, Marker, org_events, reader_of
from tests.support.client import AtlasClient, basic
from tests.support.server import ATLAS_SA


@dataclass
class Scene:
    org: str
    group: str
    a: str
    a_secret: str
    b: str
    b_secret: str
    owner: str
    owner_id: str

    def fields(self, response: Any) -> dict[str, Any]:
        return {**self.__dict__, "response": response}


async def build_scene(client: AtlasClient) -> Scene:
    org = await client.create_org("home")
    group = await client.create_project(org, "p1")
    account = {"description": "made for events", "secretExpiresAfterHours": 24}
    a = await client.post(
        f"{V2}/orgs/{org}/serviceAccounts", json={**account, "name": "alpha", "roles": ["ORG_READ_ONLY"]}
    )
    assert a.status_code == 201, a.text
    b = await client.post(
        f"{V2}/groups/{group}/serviceAccounts", json={**account, "name": "beta", "roles": ["GROUP_READ_ONLY"]}
    )
    assert b.status_code == 201, b.text
    a_id, b_id = a.json()["clientId"], b.json()["clientId"]
    added = await client.post(
        f"{V2}/orgs/{org}/serviceAccounts/{a_id}/accessList", json=[{"ipAddress": "198.51.100.1"}]
    )
    assert added.status_code == 200, added.text
    added = await client.post(
        f"{V2}/groups/{group}/serviceAccounts/{b_id}/accessList", json=[{"cidrBlock": "198.51.100.0/24"}]
    )
    assert added.status_code == 200, added.text
    assert client.credentials is not None
    owner = client.credentials.client_id
    # The owner reads the events afterwards, also once a case requires access lists (which refuses API keys).
    listed = await client.post(
        f"{V2}/orgs/{org}/serviceAccounts/{owner}/accessList", json=[{"ipAddress": OWNER_ADDRESS}]
    )
    assert listed.status_code == 200, listed.text
    return Scene(
        org=org,
        group=group,
        a=a_id,
        a_secret=a.json()["secrets"][0]["id"],
        b=b_id,
        b_secret=b.json()["secrets"][0]["id"],
        owner=owner,
        owner_id=owner.removeprefix("mdb_sa_id_"),
    )


@dataclass(frozen=True)
class Expect:
    type: str
    # A template of the event's groupId ("{group}", "{response[id]}"), or None for an organization-level event.
    group: str | None = None
    # Templates of values the event's raw document holds.
    target: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: Any = None
    status: int = 200
    expect: tuple[Expect, ...] = ()
    # Who sends it: "owner" (the org's ORG_OWNER service account), "key" (its ORG_OWNER API key, Digest), or
    # "read_only" (an ORG_READ_ONLY service account of the org).
    actor: str = "owner"


ORG_SA = f"{V2}/orgs/{{org}}/serviceAccounts"
GROUP_SA = f"{V2}/groups/{{group}}/serviceAccounts"
NEW_ACCOUNT = {"name": "gamma", "description": "new", "roles": ["ORG_MEMBER"], "secretExpiresAfterHours": 48}
NEW_GROUP_ACCOUNT = {**NEW_ACCOUNT, "roles": ["GROUP_READ_ONLY"]}
A_TARGET = {"clientId": "{a}"}
B_TARGET = {"clientId": "{b}"}
CREATED = {"clientId": "{response[clientId]}", "serviceAccountName": "gamma"}

CASES = [
    # --- organization service accounts ---
    Case(
        "createOrgServiceAccount",
        "POST",
        ORG_SA,
        NEW_ACCOUNT,
        201,
        (Expect("SERVICE_ACCOUNT_CREATED", target={**CREATED, "roles": ["ORG_MEMBER"]}),),
    ),
    Case(
        "createOrgServiceAccount as an API key",
        "POST",
        ORG_SA,
        NEW_ACCOUNT,
        201,
        (Expect("SERVICE_ACCOUNT_CREATED", target=CREATED),),
        actor="key",
    ),
    Case(
        "updateOrgServiceAccount: name",
        "PATCH",
        ORG_SA + "/{a}",
        {"name": "renamed"},
        200,
        (Expect("SERVICE_ACCOUNT_DETAILS_CHANGED", target={**A_TARGET, "serviceAccountName": "renamed"}),),
    ),
    Case(
        "updateOrgServiceAccount: roles",
        "PATCH",
        ORG_SA + "/{a}",
        {"roles": ["ORG_MEMBER"]},
        200,
        (
            Expect(
                "SERVICE_ACCOUNT_ROLES_CHANGED",
                target={**A_TARGET, "roles": ["ORG_MEMBER"], "previousRoles": ["ORG_READ_ONLY"]},
            ),
        ),
    ),
    Case(
        "updateOrgServiceAccount: roles and description, two changes",
        "PATCH",
        ORG_SA + "/{a}",
        {"roles": ["ORG_MEMBER"], "description": "new words"},
        200,
        (
            Expect("SERVICE_ACCOUNT_ROLES_CHANGED", target=A_TARGET),
            Expect("SERVICE_ACCOUNT_DETAILS_CHANGED", target={**A_TARGET, "serviceAccountDescription": "new words"}),
        ),
    ),
    Case("updateOrgServiceAccount: the same values, no change", "PATCH", ORG_SA + "/{a}", {"name": "alpha"}, 200),
    Case(
        "deleteOrgServiceAccount",
        "DELETE",
        ORG_SA + "/{a}",
        None,
        204,
        (Expect("SERVICE_ACCOUNT_DELETED", target=A_TARGET),),
    ),
    Case(
        "createOrgSecret",
        "POST",
        ORG_SA + "/{a}/secrets",
        {"secretExpiresAfterHours": 12},
        201,
        (Expect("SERVICE_ACCOUNT_SECRET_ADDED", target={**A_TARGET, "secretId": "{response[id]}"}),),
    ),
    Case(
        "deleteOrgSecret",
        "DELETE",
        ORG_SA + "/{a}/secrets/{a_secret}",
        None,
        204,
        (Expect("SERVICE_ACCOUNT_SECRET_DELETED", target={**A_TARGET, "secretId": "{a_secret}"}),),
    ),
    Case(
        "createOrgAccessList: one event per entry",
        "POST",
        ORG_SA + "/{a}/accessList",
        [{"ipAddress": "192.0.2.1"}, {"cidrBlock": "10.0.0.0/8"}],
        200,
        (
            Expect(
                "SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED",
                target={**A_TARGET, "ipAddress": "192.0.2.1", "cidrBlock": "192.0.2.1/32"},
            ),
            Expect("SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED", target={**A_TARGET, "cidrBlock": "10.0.0.0/8"}),
        ),
    ),
    Case(
        "deleteOrgAccessEntry",
        "DELETE",
        ORG_SA + "/{a}/accessList/198.51.100.1",
        None,
        204,
        (Expect("SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_DELETED", target={**A_TARGET, "cidrBlock": "198.51.100.1/32"}),),
    ),
    # --- project service accounts ---
    Case(
        "createGroupServiceAccount",
        "POST",
        GROUP_SA,
        NEW_GROUP_ACCOUNT,
        201,
        (Expect("SERVICE_ACCOUNT_CREATED", "{group}", {**CREATED, "roles": ["GROUP_READ_ONLY"]}),),
    ),
    Case(
        "updateGroupServiceAccount: roles",
        "PATCH",
        GROUP_SA + "/{b}",
        {"roles": ["GROUP_OWNER"]},
        200,
        (
            Expect(
                "SERVICE_ACCOUNT_ROLES_CHANGED",
                "{group}",
                {**B_TARGET, "roles": ["GROUP_OWNER"], "previousRoles": ["GROUP_READ_ONLY"]},
            ),
        ),
    ),
    Case(
        "updateGroupServiceAccount: description",
        "PATCH",
        GROUP_SA + "/{b}",
        {"description": "other"},
        200,
        (Expect("SERVICE_ACCOUNT_DETAILS_CHANGED", "{group}", {**B_TARGET, "serviceAccountDescription": "other"}),),
    ),
    Case(
        "deleteGroupServiceAccount",
        "DELETE",
        GROUP_SA + "/{b}",
        None,
        204,
        (Expect("SERVICE_ACCOUNT_REMOVED_FROM_GROUP", "{group}", B_TARGET),),
    ),
    Case(
        "inviteGroupServiceAccount: a new member",
        "POST",
        GROUP_SA + "/{a}:invite",
        {"roles": ["GROUP_READ_ONLY"]},
        200,
        (Expect("SERVICE_ACCOUNT_ADDED_TO_GROUP", "{group}", {**A_TARGET, "roles": ["GROUP_READ_ONLY"]}),),
    ),
    Case(
        "inviteGroupServiceAccount: a member, other roles",
        "POST",
        GROUP_SA + "/{b}:invite",
        {"roles": ["GROUP_OWNER"]},
        200,
        (Expect("SERVICE_ACCOUNT_ROLES_CHANGED", "{group}", {**B_TARGET, "roles": ["GROUP_OWNER"]}),),
    ),
    Case(
        "inviteGroupServiceAccount: a member, the same roles, no change",
        "POST",
        GROUP_SA + "/{b}:invite",
        {"roles": ["GROUP_READ_ONLY"]},
        200,
    ),
    Case(
        "createGroupSecret",
        "POST",
        GROUP_SA + "/{b}/secrets",
        {"secretExpiresAfterHours": 12},
        201,
        (Expect("SERVICE_ACCOUNT_SECRET_ADDED", "{group}", {**B_TARGET, "secretId": "{response[id]}"}),),
    ),
    Case(
        "deleteGroupSecret",
        "DELETE",
        GROUP_SA + "/{b}/secrets/{b_secret}",
        None,
        204,
        (Expect("SERVICE_ACCOUNT_SECRET_DELETED", "{group}", {**B_TARGET, "secretId": "{b_secret}"}),),
    ),
    Case(
        "createAccessList",
        "POST",
        GROUP_SA + "/{b}/accessList",
        [{"ipAddress": "2001:db8::1"}],
        200,
        (
            Expect(
                "SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED",
                "{group}",
                {**B_TARGET, "ipAddress": "2001:db8:0:0:0:0:0:1"},
            ),
        ),
    ),
    Case(
        "deleteGroupAccessEntry",
        "DELETE",
        GROUP_SA + "/{b}/accessList/198.51.100.0%2F24",
        None,
        204,
        (Expect("SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_DELETED", "{group}", {**B_TARGET, "cidrBlock": "198.51.100.0/24"}),),
    ),
    # --- organization settings ---
    Case(
        "updateOrganizationSettings: access list required",
        "PATCH",
        f"{V2}/orgs/{{org}}/settings",
        {"apiAccessListRequired": True},
        200,
        (Expect("ORG_PUBLIC_API_ACCESS_LIST_REQUIRED", target={"apiAccessListRequired": True}),),
    ),
    Case(
        "updateOrganizationSettings: both settings, two changes",
        "PATCH",
        f"{V2}/orgs/{{org}}/settings",
        {"apiAccessListRequired": True, "maxServiceAccountSecretValidityInHours": 48},
        200,
        (
            Expect("ORG_PUBLIC_API_ACCESS_LIST_REQUIRED"),
            Expect(
                "ORG_SERVICE_ACCOUNT_MAX_SECRET_VALIDITY_EDITED",
                target={
                    "maxServiceAccountSecretValidityInHours": 48,
                    "previousMaxServiceAccountSecretValidityInHours": 8760,
                },
            ),
        ),
    ),
    Case(
        "updateOrganizationSettings: the same values, no change",
        "PATCH",
        f"{V2}/orgs/{{org}}/settings",
        {"apiAccessListRequired": False, "maxServiceAccountSecretValidityInHours": 8760},
        200,
    ),
    # --- projects and organizations ---
    Case(
        "createProject",
        "POST",
        f"{V2}/groups",
        {"name": "p2", "orgId": "{org}"},
        200,
        (Expect("GROUP_CREATED", "{response[id]}", {"gn": "p2"}),),
    ),
    Case(
        "deleteProject",
        "DELETE",
        f"{V2}/groups/{{group}}",
        None,
        204,
        (Expect("GROUP_DELETED", "{group}", {"gn": "p1"}),),
    ),
    # --- refused: nothing recorded ---
    Case("createOrgServiceAccount without the role", "POST", ORG_SA, NEW_ACCOUNT, 401, actor="read_only"),
    Case("deleteProject without the role", "DELETE", f"{V2}/groups/{{group}}", None, 401, actor="read_only"),
    Case("createOrgServiceAccount, bad body", "POST", ORG_SA, {**NEW_ACCOUNT, "roles": ["NOPE"]}, 400),
    Case("updateOrgServiceAccount, empty roles", "PATCH", ORG_SA + "/{a}", {"name": "x", "roles": []}, 400),
    Case(
        "createOrgSecret, beyond the organization's maximum",
        "POST",
        ORG_SA + "/{a}/secrets",
        {"secretExpiresAfterHours": 9000},
        400,
    ),
    Case("deleteOrgSecret, unknown secret", "DELETE", ORG_SA + "/{a}/secrets/" + "0" * 24, None, 404),
    Case(
        "createOrgAccessList, already listed", "POST", ORG_SA + "/{a}/accessList", [{"ipAddress": "198.51.100.1"}], 409
    ),
    Case("createProject, name taken", "POST", f"{V2}/groups", {"name": "p1", "orgId": "{org}"}, 409),
    Case(
        "updateOrganizationSettings, out of bounds",
        "PATCH",
        f"{V2}/orgs/{{org}}/settings",
        {"maxServiceAccountSecretValidityInHours": 1},
        400,
    ),
    Case(
        "inviteGroupServiceAccount, unknown account",
        "POST",
        GROUP_SA + "/mdb_sa_id_" + "0" * 24 + ":invite",
        {"roles": ["GROUP_READ_ONLY"]},
        404,
    ),
]


def _fill(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {key: _fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(item, values) for item in template]
    return template


async def actor_client(client: AtlasClient, scene: Scene, actor: str) -> AtlasClient:
    if actor == "owner":
        return client
    if actor == "key":
        return reader_of(client)
    assert actor == "read_only"
    return await client.as_service_account(scene.org, ["ORG_READ_ONLY"])


async def api_key_id(client: AtlasClient) -> str:
    assert client.credentials is not None
    async with client.state.db.unit_of_work(write=False) as session:
        row = (
            await session.execute(select(ApiKey).where(ApiKey.public_key == client.credentials.public_key))
        ).scalar_one()
        return row.id


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_each_write_records_exactly_its_events(client: AtlasClient, case: Case) -> None:
    scene = await build_scene(client)
    caller = await actor_client(client, scene, case.actor)
    marker = await Marker.now(client, scene.org)

    values = scene.fields({})
    response = await caller.request(case.method, _fill(case.path, values), json=_fill(case.body, values))
    assert response.status_code == case.status, response.text

    values = scene.fields(response.json() if response.content else {})
    recorded = await marker.since()
    assert [e["eventTypeName"] for e in recorded] == [x.type for x in case.expect]
    for event, expected in zip(recorded, case.expect, strict=True):
        assert event["orgId"] == scene.org
        assert event.get("groupId") == (_fill(expected.group, values) if expected.group else None)
        raw = event["raw"]
        for key, value in _fill(expected.target, values).items():
            assert raw.get(key) == value, (key, raw)
        assert event["remoteAddress"] == OWNER_ADDRESS
        assert event["isGlobalAdmin"] is False
        if case.actor == "key":
            assert client.credentials is not None
            assert event["publicKey"] == client.credentials.public_key
            assert event["apiKeyId"] == await api_key_id(client)
            assert "userId" not in event
            assert "username" not in event
        else:
            assert event["userId"] == scene.owner_id
            assert event["username"] == scene.owner
            assert "apiKeyId" not in event
            assert "publicKey" not in event


async def test_create_organization_records_in_the_new_organization(client: AtlasClient) -> None:
    scene = await build_scene(client)
    marker = await Marker.now(reader_of(client), scene.org)
    body = {"name": "branch", "serviceAccount": {**NEW_ACCOUNT, "roles": ["ORG_OWNER"]}}
    response = await client.post(f"{V2}/orgs", json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert await marker.since() == []

    newcomer = client.anonymous()
    await newcomer.login(made["serviceAccount"]["clientId"], made["serviceAccount"]["secrets"][0]["secret"])
    new_org = made["organization"]["id"]
    recorded = list(reversed(await org_events(newcomer, new_org)))
    assert [e["eventTypeName"] for e in recorded] == ["ORG_CREATED", "SERVICE_ACCOUNT_CREATED"]
    assert recorded[0]["raw"]["orgName"] == "branch"
    assert recorded[1]["raw"]["clientId"] == made["serviceAccount"]["clientId"]
    for event in recorded:
        # The creator acts from its own organization; the event is the new organization's.
        assert event["orgId"] == new_org
        assert (event["userId"], event["username"]) == (scene.owner_id, scene.owner)
        assert event["remoteAddress"] == OWNER_ADDRESS


async def test_token_issuance_records_nothing(client: AtlasClient) -> None:
    scene = await build_scene(client)
    marker = await Marker.now(reader_of(client), scene.org)
    assert client.credentials is not None
    for _ in range(3):
        response = await client.anonymous().post(
            "/api/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(client.credentials.client_id, client.credentials.client_secret),
        )
        assert response.status_code == 200, response.text
    assert await marker.since() == []


async def test_the_cli_bootstrap_records_as_the_cli(client: AtlasClient, database_url: str, settings: Settings) -> None:
    assert settings.secret_key is not None
    process = await asyncio.create_subprocess_exec(
        ATLAS_SA,
        "bootstrap",
        "--database-url",
        database_url,
        "--json",
        env={**os.environ, "ATLAS_SA_SECRET_KEY": settings.secret_key.get_secret_value()},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    made = json.loads(stdout)

    await client.login(made["clientId"], made["clientSecret"])
    recorded = list(reversed(await org_events(client, made["orgId"])))
    assert [e["eventTypeName"] for e in recorded] == [
        "ORG_CREATED",
        "GROUP_CREATED",
        "SERVICE_ACCOUNT_CREATED",
        "API_KEY_CREATED",
    ]
    for event in recorded:
        assert event["orgId"] == made["orgId"]
        assert event["username"] == "atlas-sa-cli"
        for absent in ("userId", "apiKeyId", "publicKey", "remoteAddress"):
            assert absent not in event
    assert recorded[0]["raw"]["orgName"] == "atlas-sa"
    assert recorded[1]["groupId"] == made["groupId"]
    assert recorded[2]["raw"]["clientId"] == made["clientId"]
    assert recorded[3]["raw"]["publicKey"] == made["publicKey"]
    # ApiUserEventViewForOrg's targetPublicKey: only an API key's own event carries it.
    assert recorded[3]["targetPublicKey"] == made["publicKey"]
    assert not any("targetPublicKey" in event for event in recorded[:3])
