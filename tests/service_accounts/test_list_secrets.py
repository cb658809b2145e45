"""A list page carries exactly its own accounts' secrets, on both paths.

A page's secrets are read by the page's organization or project and the id range from its first to its last
account. The data here makes that range hold other rows: two organizations whose accounts were created in turns
(their ids interleave), system-managed accounts hidden from the page but inside its range, an account in two
projects of its organization; and accounts with none, one and two secrets. Over HTTP, every listed account must
carry the secrets its own read shows, on every page (the whole list, and two accounts a page). The service looks
each page account's secrets up by id, so stray rows would not reach a response: the repository's own answer is
checked too, for exactly the page's accounts and never an account outside the organization or project asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from sqlalchemy import update

from atlas_sa.kit.db import Database
from atlas_sa.kit.ids import new_object_id
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import ServiceAccount
from atlas_sa.service_accounts.repository import ListedPage, ServiceAccountRepository
from tests.service_accounts.support import group_account, group_accounts, org_account, org_accounts
from tests.support.client import AtlasClient

# The accounts made in each organization, in this order: path, secrets, system-managed.
KINDS = [
    ("org", 0, False),
    ("org", 1, False),
    ("org", 1, True),
    ("org", 2, False),
    ("project", 1, False),
    ("project", 1, True),
    ("project", 2, False),
    ("project", 0, False),
    ("org", 1, False),
]


@dataclass
class Org:
    client: AtlasClient
    org_id: str
    group_id: str
    # Every account's secret ids (ascending) by client id, in the order the accounts were made (their ids' order).
    secrets: dict[str, list[str]] = field(default_factory=dict)
    system_managed: set[str] = field(default_factory=set)
    in_project: list[str] = field(default_factory=list)

    def listed(self, accounts: list[str], *, shown: bool) -> list[str]:
        return [c for c in accounts if shown or c not in self.system_managed]


async def _make_org(client: AtlasClient, name: str) -> Org:
    org_id = await client.create_org(name)
    org = Org(client, org_id, await client.create_project(org_id))
    owner = (await client.get(org_account(org_id, client.account.client_id))).json()
    org.secrets[owner["clientId"]] = [s["id"] for s in owner["secrets"]]
    return org


async def _make_account(org: Org, db: Database, path: str, secrets: int, system_managed: bool) -> None:
    body: dict[str, Any] = {"name": "listed", "description": "x", "roles": ["ORG_MEMBER"]}
    if path == "project":
        body["roles"] = ["GROUP_READ_ONLY"]
    body.update({"withoutInitialSecret": True} if secrets == 0 else {"secretExpiresAfterHours": 24})
    response = await org.client.post(
        group_accounts(org.group_id) if path == "project" else org_accounts(org.org_id), json=body
    )
    assert response.status_code == 201, response.text
    client_id: str = response.json()["clientId"]
    ids = [s["id"] for s in response.json()["secrets"]]
    if secrets == 2:
        second = await org.client.post(
            org_account(org.org_id, client_id) + "/secrets", json={"secretExpiresAfterHours": 48}
        )
        assert second.status_code == 201, second.text
        ids.append(second.json()["id"])
    assert len(ids) == secrets
    org.secrets[client_id] = ids
    if path == "project":
        org.in_project.append(client_id)
    if system_managed:
        async with db.unit_of_work() as session:
            await session.execute(
                update(ServiceAccount).where(ServiceAccount.client_id == client_id).values(system_managed=True)
            )
        org.system_managed.add(client_id)


@pytest.fixture
async def orgs(client: AtlasClient, db: Database) -> tuple[Org, Org]:
    home = await _make_org(client, "home")
    away = await _make_org(client.anonymous(), "away")
    # In turns, so each organization's id range holds the other's accounts.
    for path, secrets, system_managed in KINDS:
        for org in (home, away):
            await _make_account(org, db, path, secrets, system_managed)
    # The owner (an organization-path account, the lowest id) joins the project and a second one: a page of one
    # project must not carry its secrets twice.
    for org in (home, away):
        owner = next(iter(org.secrets))
        second_group = await org.client.create_project(org.org_id, "project-2")
        for group_id in (org.group_id, second_group):
            invited = await org.client.post(
                group_account(group_id, owner) + ":invite", json={"roles": ["GROUP_READ_ONLY"]}
            )
            assert invited.status_code == 200, invited.text
        org.in_project.insert(0, owner)
    for org in (home, away):
        assert {len(ids) for ids in org.secrets.values()} == {0, 1, 2}
    return home, away


async def _pages(client: AtlasClient, path: str, shown: bool) -> list[list[dict[str, Any]]]:
    """Every page of the list two accounts a page, then the whole list as one page."""
    params: dict[str, Any] = {"includeSystemManaged": str(shown).lower()}
    pages = []
    for page_num in range(1, 100):
        response = await client.get(path, params={**params, "itemsPerPage": 2, "pageNum": page_num})
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()["results"]
        if not results:
            break
        pages.append(results)
    whole = await client.get(path, params=params)
    assert whole.status_code == 200, whole.text
    pages.append(whole.json()["results"])
    return pages


def _check(pages: list[list[dict[str, Any]]], org: Org, expected: list[str], reads: dict[str, Any]) -> None:
    assert len(pages) > 2
    assert [a["clientId"] for a in pages[-1]] == expected
    assert [a["clientId"] for page in pages[:-1] for a in page] == expected
    for page in pages:
        for account in page:
            assert [s["id"] for s in account["secrets"]] == org.secrets[account["clientId"]], account["clientId"]
            assert account["secrets"] == reads[account["clientId"]]["secrets"]


async def test_list_pages_carry_exactly_their_own_accounts_secrets(orgs: tuple[Org, Org]) -> None:
    for org in orgs:
        reads = {c: (await org.client.get(org_account(org.org_id, c))).json() for c in org.secrets}
        for shown in (False, True):
            org_pages = await _pages(org.client, org_accounts(org.org_id), shown)
            _check(org_pages, org, org.listed(list(org.secrets), shown=shown), reads)
            project_pages = await _pages(org.client, group_accounts(org.group_id), shown)
            _check(project_pages, org, org.listed(org.in_project, shown=shown), reads)


def _by_account(listed: ListedPage) -> dict[str, list[str]]:
    """A listed page's accounts as client id → secret ids, in their order."""
    return {a["clientId"]: [s["id"] for s in a["secrets"]] for a in orjson.loads(listed.results)}


async def test_the_repository_answers_for_the_page_and_its_scope_only(orgs: tuple[Org, Org], db: Database) -> None:
    async with db.unit_of_work(write=False) as session:
        repository = ServiceAccountRepository(session)
        for org in orgs:
            for shown in (False, True):
                for scope_id, page_in, expected in (
                    (org.org_id, repository.page_in_org, org.listed(list(org.secrets), shown=shown)),
                    (org.group_id, repository.page_in_project, org.listed(org.in_project, shown=shown)),
                ):
                    for per_page in (2, 100):
                        for page_num in range(1, len(expected) // per_page + 2):
                            listed = await page_in(
                                scope_id, PageRequest(page_num, per_page), include_system_managed=shown
                            )
                            on_page = expected[(page_num - 1) * per_page : page_num * per_page]
                            assert (listed.org_id, listed.total) == (org.org_id, len(expected))
                            assert _by_account(listed) == {c: org.secrets[c] for c in on_page}
        # An organization or project that does not exist: no rows, and no organization to authorize against.
        for page_in in (repository.page_in_org, repository.page_in_project):
            listed = await page_in(new_object_id(), PageRequest(), include_system_managed=True)
            assert listed == ListedPage(None, 0, "[]")
