"""The list fast path (atlas_sa.service_accounts.fastlist) answers exactly as the route: byte for byte against the same
app with fast paths off, for the pages it serves and for every request it leaves to the route; and it serves its pages
without the route at all."""

from __future__ import annotations

from typing import Any, NoReturn

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from atlas_sa.app import create_app
from atlas_sa.errors import UserUnauthorized
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.kit.ids import new_object_id
from atlas_sa.models import ServiceAccount
from atlas_sa.service_accounts.endpoints import service_account_service
from atlas_sa.settings import Settings
from tests.service_accounts.support import org_account, org_accounts
from tests.support.client import AtlasClient

# Pages the fast path serves, then queries it leaves to the route (which validates them, or reads them its way).
SERVED = [
    "",
    "?itemsPerPage=2",
    "?itemsPerPage=2&pageNum=2",
    "?pageNum=0&itemsPerPage=1",
    "?pageNum=99",
    "?includeSystemManaged=true",
    "?includeSystemManaged=false&itemsPerPage=500",
    "?envelope=true&pretty=true&itemsPerPage=3",
    "?pretty=false&pageNum=%32&itemsPerPage=2",
    "?itemsPerPage=00002",
]
LEFT_TO_THE_ROUTE = [
    "?itemsPerPage=0",
    "?itemsPerPage=501",
    "?pageNum=-1",
    "?pageNum=x",
    "?pageNum=1&pageNum=2",
    "?pageNum=" + "9" * 30,
    "?includeSystemManaged=TRUE",
    "?includeSystemManaged=1",
    "?includeSystemManaged=",
    "?includeCount=false",
    "?unknown=1&itemsPerPage=2",
    "?envelope=maybe",
    "?pageNum=%00",
]


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Many requests by one organization would meet its rate limit (500 a minute); a test below turns it back on.
    return Settings(database_url=database_url, secret_key="test-master-key-0123456789abcdef", rate_limits_enabled=False)


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    # Each response has its own request id.
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in ("date", "x-request-id")]
    return response.status_code, headers, response.content


async def accounts_of_every_kind(client: AtlasClient, db: Database) -> str:
    """An organization with accounts of none, one and two secrets, one of them system-managed; its id. The caller's
    token is then in the principal cache, which the fast path needs."""
    org_id = await client.create_org()
    for name in ("one", "two", "none", "system"):
        body: dict[str, Any] = {"name": name, "description": "listed", "roles": ["ORG_MEMBER"]}
        body |= {"withoutInitialSecret": True} if name == "none" else {"secretExpiresAfterHours": 24}
        made = await client.post(org_accounts(org_id), json=body)
        assert made.status_code == 201, made.text
        client_id = made.json()["clientId"]
        if name == "two":
            second = await client.post(
                org_account(org_id, client_id) + "/secrets", json={"secretExpiresAfterHours": 48}
            )
            assert second.status_code == 201, second.text
    async with db.unit_of_work() as session:
        await session.execute(update(ServiceAccount).where(ServiceAccount.name == "system").values(system_managed=True))
    # That bulk update dropped every cached principal; one routed request verifies the token again.
    assert (await client.get("/api/atlas/v2/orgs")).status_code == 200
    return org_id


def refuse() -> NoReturn:
    raise UserUnauthorized


@pytest.mark.parametrize("query", SERVED + LEFT_TO_THE_ROUTE)
async def test_pages_are_the_routes_answers(
    app: FastAPI, client: AtlasClient, routed: AtlasClient, db: Database, query: str
) -> None:
    """Served pages are answered without the route: with the route's dependencies refusing every request, they are
    still the reference's answers. Queries left to the route are the route's answers."""
    org_id = await accounts_of_every_kind(client, db)
    routed.headers["Authorization"] = client.headers["Authorization"]
    reference = await routed.get(org_accounts(org_id) + query)
    if query in SERVED:
        assert reference.status_code == 200, reference.text
        app.dependency_overrides[service_account_service] = refuse
    assert comparable(await client.get(org_accounts(org_id) + query)) == comparable(reference)


async def test_the_route_answers_what_the_fast_path_leaves(app: FastAPI, client: AtlasClient, db: Database) -> None:
    org_id = await accounts_of_every_kind(client, db)
    app.dependency_overrides[service_account_service] = refuse
    assert (await client.get(org_accounts(org_id))).status_code == 200
    for query in LEFT_TO_THE_ROUTE:
        # The refusal, or the route's own 400 for a query it refuses before any dependency: never a page.
        assert (await client.get(org_accounts(org_id) + query)).status_code in (400, 401), query


@pytest.mark.parametrize("caller", ["member of a project", "another organization", "no such organization", "bad id"])
async def test_callers_the_route_refuses_are_refused_alike(
    client: AtlasClient, routed: AtlasClient, db: Database, caller: str
) -> None:
    org_id = await accounts_of_every_kind(client, db)
    asking, path_org = client, org_id
    if caller == "member of a project":
        group_id = await client.create_project(org_id)
        asking = await client.as_service_account(org_id, ["ORG_MEMBER"], {group_id: ["GROUP_READ_ONLY"]})
    elif caller == "another organization":
        asking = client.anonymous()
        await asking.create_org("elsewhere")
    elif caller == "no such organization":
        path_org = new_object_id()
    else:
        path_org = org_id[:-1] + "z"
    assert (await asking.get("/api/atlas/v2/orgs")).status_code == 200  # its token is now in the principal cache
    routed.headers["Authorization"] = asking.headers["Authorization"]
    fast = await asking.get(org_accounts(path_org))
    assert fast.status_code in (401, 404), fast.text
    assert comparable(fast) == comparable(await routed.get(org_accounts(path_org)))


async def test_rate_limit_headers_and_refusal_match_the_route(
    settings: Settings, clock: FrozenClock, db: Database
) -> None:
    limited = settings.model_copy(update={"rate_limits_enabled": True, "rate_limit_org_service_accounts": "4/1/60"})
    answers: dict[bool, list[tuple[int, list[str]]]] = {}
    for fast in (True, False):
        app = create_app(limited.model_copy(update={"fast_paths": fast}), clock=clock, database=db)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with AtlasClient(app=app, transport=transport, base_url="http://atlas.test") as c:
            org_id = await c.create_org(f"org-{fast}")
            await c.get("/api/atlas/v2/orgs")
            responses = [await c.get(org_accounts(org_id) + "?itemsPerPage=1") for _ in range(6)]
        assert [r.status_code for r in responses] == [200, 200, 200, 200, 429, 429]
        assert [r.headers.get("RateLimit-Remaining") for r in responses[:4]] == ["3", "2", "1", "0"]
        # The organization's ids differ, and with them the links and lengths.
        answers[fast] = [
            (r.status_code, [f"{k}: {v}" for k, v in comparable(r)[1] if k != "content-length"]) for r in responses
        ]
    assert answers[True] == answers[False]
