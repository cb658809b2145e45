"""Service-account responses are byte for byte what the pydantic response schemas render.

The endpoints build account and secret dicts themselves (cheaper than a model per account and per secret on list
pages). These tests render a reference the way the endpoints did before, through ``OrgServiceAccount`` /
``GroupServiceAccount`` / ``ServiceAccountSecret`` from rows read directly from the database, and compare bytes:
list pages on both paths (system-managed accounts shown and hidden, several pages, past the end, ``envelope`` and
``pretty``), single reads (through the route and the read fast path), creates (which show the new secret), updates
and invites. The data covers secrets with and without ``lastUsedAt``, accounts with none, one and two secrets,
non-ASCII and empty descriptions (the column is NOT NULL: a description is never absent), and project roles that
differ from the organization roles; timestamps with microseconds, which the API never stores and the contract
refuses, are compared without HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import select, update

from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.kit.rendering import dumps
from atlas_sa.models import ProjectAssignment, ServiceAccount, ServiceAccountSecret
from atlas_sa.service_accounts.rendering import org_account_schema, secret_schema
from atlas_sa.service_accounts.repository import ServiceAccountRepository
from atlas_sa.service_accounts.schemas import GroupServiceAccount, OrgServiceAccount
from atlas_sa.service_accounts.schemas import ServiceAccountSecret as SecretSchema
from atlas_sa.service_accounts.service import AccountView, masked
from tests.service_accounts.support import (
    group_account,
    group_accounts,
    org_account,
    org_accounts,
)
from tests.support.client import AtlasClient

SECRETS = "/secrets"


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def reference_account(
    schema: type[OrgServiceAccount | GroupServiceAccount],
    account: ServiceAccount,
    roles: list[str],
    secrets: Sequence[ServiceAccountSecret],
) -> Any:
    return _dump(
        schema.model_validate(
            {
                "clientId": account.client_id,
                "createdAt": account.created_at,
                "description": account.description,
                "name": account.name,
                "roles": roles,
                "secrets": [
                    SecretSchema.model_validate(
                        {
                            "createdAt": s.created_at,
                            "expiresAt": s.expires_at,
                            "id": s.id,
                            "lastUsedAt": s.last_used_at,
                            "maskedSecretValue": masked(s),
                        }
                    )
                    for s in secrets
                ],
                "systemManaged": account.system_managed,
            }
        )
    )


async def reference_accounts(
    db: Database, *, org_id: str | None = None, group_id: str | None = None, include_system_managed: bool
) -> list[Any]:
    """Every account the list shows, in its order (ids ascending), rendered through the schemas."""
    async with db.unit_of_work(write=False) as session:
        if group_id is not None:
            statement: Any = (
                select(ServiceAccount, ProjectAssignment.roles)
                .join(ProjectAssignment, ProjectAssignment.service_account_id == ServiceAccount.id)
                .where(ProjectAssignment.project_id == group_id)
            )
        else:
            statement = select(ServiceAccount, ServiceAccount.org_roles).where(ServiceAccount.org_id == org_id)
        if not include_system_managed:
            statement = statement.where(ServiceAccount.system_managed.is_(False))
        rendered = []
        for account, roles in (await session.execute(statement.order_by(ServiceAccount.id))).all():
            secrets = (
                await session.execute(
                    select(ServiceAccountSecret)
                    .where(ServiceAccountSecret.service_account_id == account.id)
                    .order_by(ServiceAccountSecret.id)
                )
            ).scalars()
            schema = GroupServiceAccount if group_id is not None else OrgServiceAccount
            rendered.append(reference_account(schema, account, list(roles), list(secrets)))
        return rendered


def assert_page_bytes(response: httpx.Response, everything: list[Any], params: dict[str, Any]) -> None:
    """The page's bytes are what the renderer makes of the reference accounts (the links, which these changes do
    not build, are taken from the response)."""
    assert response.status_code == 200, response.text
    per_page = int(params.get("itemsPerPage", 100))
    start = (int(params.get("pageNum", 1)) - 1) * per_page
    body: dict[str, Any] = {
        "links": response.json()["links"],
        "results": everything[start : start + per_page],
        "totalCount": len(everything),
    }
    if params.get("envelope") == "true":
        body["status"] = 200
    assert response.content == dumps(body, pretty=params.get("pretty") == "true")


async def _set_secret(db: Database, secret_id: str, **values: Any) -> None:
    async with db.unit_of_work() as session:
        await session.execute(update(ServiceAccountSecret).where(ServiceAccountSecret.id == secret_id).values(**values))


async def _set_account(db: Database, client_id: str, **values: Any) -> None:
    async with db.unit_of_work() as session:
        await session.execute(update(ServiceAccount).where(ServiceAccount.client_id == client_id).values(**values))


@pytest.fixture
async def accounts(client: AtlasClient, db: Database, clock: FrozenClock) -> dict[str, Any]:
    """An organization and a project holding every kind of account the renderers distinguish, and the create
    responses with the schema each should match."""
    org_id = await client.create_org("home")
    group_id = await client.create_project(org_id)
    created: list[tuple[httpx.Response, type[OrgServiceAccount | GroupServiceAccount]]] = []

    async def make(path: str, body: dict[str, Any], schema: type[OrgServiceAccount | GroupServiceAccount]) -> str:
        clock.advance(minutes=3, seconds=7)
        response = await client.post(path, json=body)
        assert response.status_code == 201, response.text
        created.append((response, schema))
        client_id: str = response.json()["clientId"]
        return client_id

    base = {"secretExpiresAfterHours": 24}
    plain = await make(
        org_accounts(org_id),
        {**base, "name": "plain", "description": "Déploie ça, l'été", "roles": ["ORG_READ_ONLY", "ORG_MEMBER"]},
        OrgServiceAccount,
    )
    bare = await make(
        org_accounts(org_id),
        {"name": "bare", "description": "no secret", "roles": ["ORG_MEMBER"], "withoutInitialSecret": True},
        OrgServiceAccount,
    )
    rotated = await make(
        org_accounts(org_id),
        {**base, "name": "rotated", "description": "two", "roles": ["ORG_OWNER"]},
        OrgServiceAccount,
    )
    system = await make(
        org_accounts(org_id),
        {**base, "name": "mcp", "description": "system", "roles": ["ORG_MEMBER"]},
        OrgServiceAccount,
    )
    in_project = await make(
        group_accounts(group_id),
        {**base, "name": "in project", "description": "x", "roles": ["GROUP_READ_ONLY", "GROUP_OWNER"]},
        GroupServiceAccount,
    )

    clock.advance(minutes=10)
    second = await client.post(org_account(org_id, rotated) + SECRETS, json={"secretExpiresAfterHours": 48})
    assert second.status_code == 201, second.text
    # Secrets that were used (the owner's own secret, used to log in, is another).
    clock.advance(minutes=5)
    await _set_secret(db, second.json()["id"], last_used_at=clock.now())
    plain_secret = created[0][0].json()["secrets"][0]["id"]
    await _set_secret(db, plain_secret, last_used_at=datetime(2026, 1, 15, 13, 1, 2, tzinfo=UTC))
    # A value the API does not write but the database can hold: an empty description.
    await _set_account(db, bare, description="")
    await _set_account(db, system, system_managed=True)
    invited = await client.post(
        group_account(group_id, plain) + ":invite", json={"roles": ["GROUP_DATA_ACCESS_READ_ONLY", "GROUP_OWNER"]}
    )
    assert invited.status_code == 200, invited.text
    await _set_account(db, in_project, system_managed=True)
    return {"org_id": org_id, "group_id": group_id, "created": created, "plain": plain, "rotated": rotated}


ORG_LISTS = [
    {},
    {"includeSystemManaged": "true"},
    {"includeSystemManaged": "false", "envelope": "true"},
    {"pretty": "true"},
    {"includeSystemManaged": "true", "envelope": "true", "pretty": "true"},
    {"itemsPerPage": 2},
    {"itemsPerPage": 2, "pageNum": 2, "includeSystemManaged": "true"},
    {"itemsPerPage": 2, "pageNum": 3, "includeSystemManaged": "true", "pretty": "true"},
    {"pageNum": 9, "envelope": "true"},
]


@pytest.mark.parametrize("params", ORG_LISTS)
async def test_org_list_pages_render_as_the_schemas(
    client: AtlasClient, db: Database, accounts: dict[str, Any], params: dict[str, Any]
) -> None:
    shown = params.get("includeSystemManaged") == "true"
    everything = await reference_accounts(db, org_id=accounts["org_id"], include_system_managed=shown)
    assert len(everything) == (6 if shown else 4)
    assert {"lastUsedAt" in s for a in everything for s in a["secrets"]} == {True, False}
    assert {len(a["secrets"]) for a in everything} == {0, 1, 2}
    assert any(a["systemManaged"] for a in everything) is shown
    assert_page_bytes(await client.get(org_accounts(accounts["org_id"]), params=params), everything, params)


@pytest.mark.parametrize(
    "params",
    [{}, {"includeSystemManaged": "true"}, {"envelope": "true", "pretty": "true", "includeSystemManaged": "true"}],
)
async def test_project_list_pages_render_as_the_schemas(
    client: AtlasClient, db: Database, accounts: dict[str, Any], params: dict[str, Any]
) -> None:
    shown = params.get("includeSystemManaged") == "true"
    everything = await reference_accounts(db, group_id=accounts["group_id"], include_system_managed=shown)
    assert len(everything) == (2 if shown else 1)
    # The invited account shows its project roles here, not its organization roles.
    assert everything[0]["roles"] == ["GROUP_DATA_ACCESS_READ_ONLY", "GROUP_OWNER"]
    assert_page_bytes(await client.get(group_accounts(accounts["group_id"]), params=params), everything, params)


async def test_single_reads_are_the_list_items(client: AtlasClient, db: Database, accounts: dict[str, Any]) -> None:
    org_id, group_id = accounts["org_id"], accounts["group_id"]
    listed = await reference_accounts(db, org_id=org_id, include_system_managed=True)
    for item in listed:
        path = org_account(org_id, item["clientId"])
        # Twice: the first read fills the read fast path's cache, the second is answered from it.
        for _ in range(2):
            assert (await client.get(path)).content == dumps(item)
        assert (await client.get(path, params={"pretty": "true"})).content == dumps(item, pretty=True)
    for item in await reference_accounts(db, group_id=group_id, include_system_managed=True):
        assert (await client.get(group_account(group_id, item["clientId"]))).content == dumps(item)
        enveloped = await client.get(group_account(group_id, item["clientId"]), params={"envelope": "true"})
        assert enveloped.content == dumps({"content": item, "status": 200})


async def test_create_responses_show_the_new_secret_as_the_schemas(accounts: dict[str, Any]) -> None:
    for response, schema in accounts["created"]:
        sent = response.json()
        reference = _dump(
            schema.model_validate(
                {
                    **sent,
                    "secrets": [
                        SecretSchema.model_validate({k: secret[k] for k in ("createdAt", "expiresAt", "id", "secret")})
                        for secret in sent["secrets"]
                    ],
                }
            )
        )
        assert response.content == dumps(reference)


async def test_update_and_invite_responses_render_as_the_schemas(
    client: AtlasClient, db: Database, accounts: dict[str, Any]
) -> None:
    org_id, group_id = accounts["org_id"], accounts["group_id"]

    async def reference(client_id: str, *, in_group: bool) -> Any:
        listed = await reference_accounts(
            db, group_id=group_id if in_group else None, org_id=org_id, include_system_managed=True
        )
        return next(item for item in listed if item["clientId"] == client_id)

    rotated, plain = accounts["rotated"], accounts["plain"]
    renamed = await client.patch(org_account(org_id, rotated), json={"name": "renamed", "roles": ["ORG_MEMBER"]})
    assert renamed.status_code == 200, renamed.text
    assert renamed.content == dumps(await reference(rotated, in_group=False))
    regrouped = await client.patch(
        group_account(group_id, plain), params={"pretty": "true"}, json={"roles": ["GROUP_READ_ONLY"]}
    )
    assert regrouped.status_code == 200, regrouped.text
    assert regrouped.content == dumps(await reference(plain, in_group=True), pretty=True)
    invited = await client.post(group_account(group_id, rotated) + ":invite", json={"roles": ["GROUP_OWNER"]})
    assert invited.status_code == 200, invited.text
    assert invited.content == dumps(await reference(rotated, in_group=True))


# Every character JSON escapes, and characters it must leave as they are (``/``, DEL, U+2028, non-ASCII, non-BMP).
AWKWARD = "".join(chr(code) for code in range(1, 0x20)) + "\"\\/\x7f\u2028\u2029é€😀</script>'%;--"


async def test_list_pages_escape_text_as_the_writer_does(
    client: AtlasClient, db: Database, accounts: dict[str, Any]
) -> None:
    """The database writes the page's JSON (``json_quote`` on SQLite, ``to_json`` on PostgreSQL): whatever text the
    columns hold comes out escaped as orjson escapes it. Roles stored with escapes of their own (Python's json
    writes ``é`` as ``\\u00e9``) are decoded and written again, not copied."""
    org_id, group_id, plain, rotated = accounts["org_id"], accounts["group_id"], accounts["plain"], accounts["rotated"]
    # PostgreSQL's text cannot hold NUL; SQLite's can.
    await _set_account(db, plain, description=AWKWARD + ("\x00" if db.is_sqlite else ""), name='名前 "q" \\')
    awkward_roles = ["ORG_MEMBER", "RÔLE " + AWKWARD]
    await _set_account(db, rotated, org_roles=awkward_roles)
    async with db.unit_of_work() as session:
        await session.execute(update(ProjectAssignment).values(roles=awkward_roles[::-1]))
    everything = await reference_accounts(db, org_id=org_id, include_system_managed=True)
    assert {tuple(a["roles"]) for a in everything} >= {tuple(awkward_roles)}
    for params in ({"includeSystemManaged": "true"}, {"includeSystemManaged": "true", "pretty": "true"}):
        assert_page_bytes(await client.get(org_accounts(org_id), params=params), everything, params)
    in_project = await reference_accounts(db, group_id=group_id, include_system_managed=True)
    assert in_project[0]["description"].startswith(AWKWARD)
    params = {"includeSystemManaged": "true"}
    assert_page_bytes(await client.get(group_accounts(group_id), params=params), in_project, params)


TIMESTAMPS = [
    datetime(2026, 11, 23, 19, 17, 7, tzinfo=UTC),
    datetime(2026, 11, 23, 19, 17, 7, 345678, tzinfo=UTC),
    datetime(2026, 11, 23, 19, 17, 7, 5, tzinfo=UTC),
    datetime(1999, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),
]


@pytest.mark.parametrize("when", TIMESTAMPS)
def test_timestamps_render_as_pydantic_does(when: datetime) -> None:
    """The API stores whole seconds, but whatever a row holds renders as the schemas rendered it (microseconds are
    kept only when there are any); the HTTP tests above cannot show such values, which the contract refuses."""
    used = ServiceAccountSecret(
        id="65a1b2c3d4e5f60718293a4b",
        service_account_id="65a1b2c3d4e5f60718293a4c",
        last_four="wxyz",
        created_at=when,
        expires_at=when,
        last_used_at=when,
    )
    unused = ServiceAccountSecret(
        id="65a1b2c3d4e5f60718293a4d",
        service_account_id="65a1b2c3d4e5f60718293a4c",
        last_four="wxyz",
        created_at=when,
        expires_at=when,
        last_used_at=None,
    )
    account = ServiceAccount(
        id="65a1b2c3d4e5f60718293a4c",
        client_id="mdb_sa_id_65a1b2c3d4e5f60718293a4c",
        org_id="o",
        name="n",
        description="d",
        system_managed=True,
        created_at=when,
    )
    rendered = org_account_schema(AccountView(account, ["ORG_MEMBER"], [used, unused]))
    reference = reference_account(OrgServiceAccount, account, ["ORG_MEMBER"], [used, unused])
    assert reference["secrets"][0]["maskedSecretValue"] == "mdb_sa_sk_...wxyz"
    assert dumps(rendered) == dumps(reference)
    assert dumps(rendered, pretty=True) == dumps(reference, pretty=True)
    assert secret_schema(unused) == reference["secrets"][1]


async def test_list_timestamps_render_as_pydantic_does(db: Database, accounts: dict[str, Any]) -> None:
    """List pages are written by the database, timestamps included (``iso_utc``, per backend): rows holding the
    values above, microseconds included, render as the schemas render them. Through the repository, without
    HTTP, for the reason above."""
    org_id, plain, rotated = accounts["org_id"], accounts["plain"], accounts["rotated"]
    values = TIMESTAMPS
    async with db.unit_of_work() as session:
        for client_id, when in zip((plain, rotated), values[1:3], strict=True):
            await session.execute(
                update(ServiceAccount).where(ServiceAccount.client_id == client_id).values(created_at=when)
            )
        secrets = (await session.execute(select(ServiceAccountSecret).order_by(ServiceAccountSecret.id))).scalars()
        for index, secret in enumerate(list(secrets)):
            secret.created_at = values[index % len(values)]
            secret.expires_at = values[(index + 1) % len(values)]
            secret.last_used_at = values[(index + 2) % len(values)] if index % 2 else None
    everything = await reference_accounts(db, org_id=org_id, include_system_managed=True)
    assert {s["createdAt"][19:] for a in everything for s in a["secrets"]} >= {"Z", ".345678Z", ".000005Z"}
    async with db.unit_of_work(write=False) as session:
        listed = await ServiceAccountRepository(session).page_in_org(
            org_id, PageRequest(1, 100), include_system_managed=True
        )
    assert listed.total == len(everything)
    assert listed.results.encode() == dumps(everything)
