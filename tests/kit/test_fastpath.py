"""The fast paths answer exactly as the routes they shortcut: byte for byte against the same app with fast paths off,
served without touching the database once cached, and never stale after a change (atlas_sa.kit.fastpath)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from atlas_sa.app import create_app
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.settings import Settings
from tests.support.client import AtlasClient, basic
from tests.support.settings import settings_on

V2 = "/api/atlas/v2"
TOKEN = "/api/oauth/token"


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Minting many tokens for one client would meet the token endpoint's own rate limit (50 a minute).
    return settings_on(database_url, rate_limits_enabled=False)


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement run on ``db`` inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engines = [db.engine.sync_engine] + ([db._read_engine.sync_engine] if db._read_engine is not None else [])
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    # Each response has its own request id (tests/kit/test_observe.py checks the fast paths echo it).
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in ("date", "x-request-id")]
    return response.status_code, headers, response.content


async def twin(client: AtlasClient, routed: AtlasClient) -> AtlasClient:
    """``routed`` authenticated with ``client``'s token."""
    routed.headers["Authorization"] = client.headers["Authorization"]
    return routed


async def test_a_cached_read_is_the_routes_answer_without_a_query(client: AtlasClient, routed: AtlasClient) -> None:
    org_id = await client.create_org()
    made = await client.add_account(org_id, ["ORG_MEMBER"], name="reader")
    url = f"{V2}/orgs/{org_id}/serviceAccounts/{made.client_id}"
    first = await client.get(url)
    assert first.status_code == 200
    with statements(client.state.db) as seen:
        second = await client.get(url)
    assert seen == []  # served from the view cache: no token check, no account read
    reference = await (await twin(client, routed)).get(url)
    assert comparable(first) == comparable(second) == comparable(reference)
    assert second.json()["name"] == "reader"


@pytest.mark.parametrize(
    "change",
    ["rename", "add secret", "delete secret", "roles", "delete account", "mint with its secret"],
)
async def test_every_change_shows_on_the_next_read(client: AtlasClient, routed: AtlasClient, change: str) -> None:
    org_id = await client.create_org()
    made = await client.add_account(org_id, ["ORG_MEMBER"], name="before")
    url = f"{V2}/orgs/{org_id}/serviceAccounts/{made.client_id}"
    assert (await client.get(url)).status_code == 200
    assert (await client.get(url)).status_code == 200  # cached now
    secret_id = (await client.get(url)).json()["secrets"][0]["id"]
    match change:
        case "rename":
            assert (await client.patch(url, json={"name": "after"})).status_code == 200
        case "add secret":
            assert (await client.post(f"{url}/secrets", json={"secretExpiresAfterHours": 24})).status_code == 201
        case "delete secret":
            assert (await client.delete(f"{url}/secrets/{secret_id}")).status_code == 204
        case "roles":
            assert (await client.patch(url, json={"roles": ["ORG_READ_ONLY"]})).status_code == 200
        case "delete account":
            assert (await client.delete(url)).status_code == 204
        case "mint with its secret":
            response = await client.anonymous().post(
                TOKEN, data={"grant_type": "client_credentials"}, headers=basic(made.client_id, made.client_secret)
            )
            assert response.status_code == 200
    fast = await client.get(url)
    reference = await (await twin(client, routed)).get(url)
    assert comparable(fast) == comparable(reference)
    if change == "mint with its secret":
        assert fast.json()["secrets"][0]["lastUsedAt"] is not None


async def test_the_fast_path_still_checks_the_callers_role(client: AtlasClient, routed: AtlasClient) -> None:
    org_id = await client.create_org()
    url = f"{V2}/orgs/{org_id}/serviceAccounts/{client.credentials.client_id}"  # type: ignore[union-attr]
    assert (await client.get(url)).status_code == 200
    assert (await client.get(url)).status_code == 200  # cached for the owner
    member = await client.as_service_account(org_id, ["ORG_MEMBER"])
    assert (await member.get(f"{V2}/orgs/{org_id}")).status_code == 200  # its token is in the principal cache
    refused = await member.get(url)
    routed.headers["Authorization"] = member.headers["Authorization"]
    assert comparable(refused) == comparable(await routed.get(url))
    assert refused.json()["errorCode"] == "USER_UNAUTHORIZED"


async def test_another_organizations_caller_is_refused(client: AtlasClient) -> None:
    org_id = await client.create_org()
    url = f"{V2}/orgs/{org_id}/serviceAccounts/{client.credentials.client_id}"  # type: ignore[union-attr]
    assert (await client.get(url)).status_code == 200
    assert (await client.get(url)).status_code == 200
    stranger = client.anonymous()
    stranger_org = await stranger.create_org("elsewhere")
    assert (await stranger.get(f"{V2}/orgs/{stranger_org}")).status_code == 200
    assert (await stranger.get(url)).status_code == 401


async def test_revoked_and_expired_tokens_are_refused(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()
    account = await client.add_account(org_id, ["ORG_READ_ONLY"])
    robot = client.anonymous()
    token = await robot.login(account.client_id, account.client_secret)
    url = f"{V2}/orgs/{org_id}/serviceAccounts/{account.client_id}"
    assert (await robot.get(url)).status_code == 200
    assert (await robot.get(url)).status_code == 200
    revoked = await robot.post(
        "/api/oauth/revoke", data={"token": token}, headers=basic(account.client_id, account.client_secret)
    )
    assert revoked.status_code == 200
    assert (await robot.get(url)).status_code == 401
    await robot.login(account.client_id, account.client_secret)
    assert (await robot.get(url)).status_code == 200
    clock.advance(seconds=3600)
    assert (await robot.get(url)).status_code == 401


async def test_an_access_list_is_enforced_for_cached_reads(client: AtlasClient) -> None:
    org_id = await client.create_org()
    account = await client.add_account(org_id, ["ORG_READ_ONLY"])
    robot = client.anonymous()
    await robot.login(account.client_id, account.client_secret)
    url = f"{V2}/orgs/{org_id}/serviceAccounts/{account.client_id}"
    assert (await robot.get(url)).status_code == 200
    assert (await robot.get(url)).status_code == 200
    added = await client.post(f"{url}/accessList", json=[{"ipAddress": "198.51.100.1"}])
    assert added.status_code == 200, added.text
    refused = await robot.get(url)  # the test transport's address is 203.0.113.7
    assert refused.status_code == 403
    assert refused.json()["errorCode"] == "IP_ADDRESS_NOT_ON_ACCESS_LIST"


@pytest.mark.parametrize("query", ["?envelope=true", "?pretty=true", "?envelope=maybe"])
async def test_format_parameters_are_left_to_the_route(client: AtlasClient, routed: AtlasClient, query: str) -> None:
    org_id = await client.create_org()
    url = f"{V2}/orgs/{org_id}/serviceAccounts/{client.credentials.client_id}"  # type: ignore[union-attr]
    assert (await client.get(url)).status_code == 200
    assert (await client.get(url)).status_code == 200
    fast = await client.get(url + query)
    assert comparable(fast) == comparable(await (await twin(client, routed)).get(url + query))
    assert fast.content != (await client.get(url)).content


@pytest.mark.parametrize(
    "accept",
    ["application/json", "application/vnd.atlas.2023-01-01+json", "application/vnd.atlas.2024-08-05+json"],
)
async def test_the_accept_header_decides_as_on_the_route(client: AtlasClient, routed: AtlasClient, accept: str) -> None:
    org_id = await client.create_org()
    url = f"{V2}/orgs/{org_id}/serviceAccounts/{client.credentials.client_id}"  # type: ignore[union-attr]
    for _ in range(2):
        fast = await client.get(url, headers={"Accept": accept})
    reference = await (await twin(client, routed)).get(url, headers={"Accept": accept})
    assert comparable(fast) == comparable(reference)


async def test_rate_limit_headers_and_refusal_match_the_route(
    settings: Settings, clock: FrozenClock, db: Database
) -> None:
    limited = settings.model_copy(update={"rate_limits_enabled": True, "rate_limit_org_service_accounts": "4/1/60"})
    answers: dict[bool, list[tuple[int, list[tuple[str, str]], bytes]]] = {}
    for fast in (True, False):
        app = create_app(limited.model_copy(update={"fast_paths": fast}), clock=clock, database=db)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with AtlasClient(app=app, transport=transport, base_url="http://atlas.test") as c:
            org_id = await c.create_org(f"org-{fast}")
            url = f"{V2}/orgs/{org_id}/serviceAccounts/{c.credentials.client_id}"  # type: ignore[union-attr]
            responses = [await c.get(url) for _ in range(6)]
        answers[fast] = [comparable(r) for r in responses]
        statuses = [r.status_code for r in responses]
        assert statuses == [200, 200, 200, 200, 429, 429]
        assert [r.headers.get("RateLimit-Remaining") for r in responses[:4]] == ["3", "2", "1", "0"]

    def without_ids(answer: tuple[int, list[tuple[str, str]], bytes]) -> tuple[int, list[str]]:
        status, headers, _body = answer
        return status, [f"{k}: {v}" for k, v in headers if k != "content-length"]

    assert [without_ids(a) for a in answers[True]] == [without_ids(a) for a in answers[False]]


# --- the token endpoint -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "credentials"),
    [
        (b"grant_type=client_credentials", "application/x-www-form-urlencoded", "good"),
        (b"grant_type=client_credentials", "application/x-www-form-urlencoded", "wrong secret"),
        (b"grant_type=password", "application/x-www-form-urlencoded", "good"),
        (b"grant_type=client_credentials&grant_type=x", "application/x-www-form-urlencoded", "good"),
        (b"{}", "application/json", "good"),
        (b"", "application/x-www-form-urlencoded", "good"),
        (b"grant_type=client_credentials", "application/x-www-form-urlencoded", "none"),
        (b"\xff\xfe", "application/x-www-form-urlencoded", "good"),
        (b"grant_type=client_credentials&" + b"x" * 9000, "application/x-www-form-urlencoded", "good"),
    ],
)
async def test_token_answers_match_the_route(
    client: AtlasClient, routed: AtlasClient, body: bytes, content_type: str, credentials: str
) -> None:
    org_id = await client.create_org()
    account = await client.add_account(org_id, ["ORG_MEMBER"])
    headers = {"Content-Type": content_type}
    if credentials == "good":
        headers |= basic(account.client_id, account.client_secret)
    elif credentials == "wrong secret":
        headers |= basic(account.client_id, account.client_secret[:-1] + "x")
    fast = await client.anonymous().post(TOKEN, content=body, headers=headers)
    reference = await routed.anonymous().post(TOKEN, content=body, headers=headers)
    status, fast_headers, fast_body = comparable(fast)
    assert (status, fast_headers) == comparable(reference)[:2]
    if status == 200:
        assert fast.json().keys() == reference.json().keys() == {"access_token", "expires_in", "token_type"}
        assert fast.json()["access_token"] != reference.json()["access_token"]
    else:
        assert fast_body == reference.content


async def test_an_oversized_token_request_is_413_on_both(client: AtlasClient, routed: AtlasClient) -> None:
    body = b"grant_type=client_credentials&pad=" + b"x" * 2_000_000
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    fast = await client.anonymous().post(TOKEN, content=body, headers=headers)
    assert fast.status_code == 413
    assert comparable(fast) == comparable(await routed.anonymous().post(TOKEN, content=body, headers=headers))
