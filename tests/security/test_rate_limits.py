"""Atlas's token buckets on real routes: per (credential, scope), 429 bodies and headers, refill with the clock,
switchable off, and shared by instances on PostgreSQL."""

from __future__ import annotations

import httpx

from atlas_sa.kit.clock import FrozenClock
from tests.security.conftest import AppFactory
from tests.support.client import ClientFactory

V2 = "/api/atlas/v2"


def assert_headers(response: httpx.Response, limit: int, remaining: int) -> None:
    assert response.headers["RateLimit-Limit"] == str(limit), response.headers
    assert response.headers["RateLimit-Remaining"] == str(remaining), response.headers


def assert_bucket_refusal(response: httpx.Response, path: str, retry: int, capacity: int, refill: int) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["errorCode"] == "RATE_LIMITED_TOKEN_BUCKET"
    assert body["error"] == 429
    assert body["reason"] == "Too Many Requests"
    assert body["parameters"] == [path.lstrip("/"), retry, capacity, refill, 60]
    assert body["detail"] == (
        f"Rate limit exceeded for {path.lstrip('/')}. Please retry after {retry} seconds. "
        f"Request capacity: {capacity}. Refill rate: {refill} per 60 seconds."
    )
    assert response.headers["Retry-After"] == str(retry)
    assert response.headers["X-Error-Code"] == "RATE_LIMITED_TOKEN_BUCKET"
    assert_headers(response, capacity, 0)


async def test_org_service_account_bucket(make_app: AppFactory, connect: ClientFactory, clock: FrozenClock) -> None:
    client = connect(make_app())
    org_id = await client.create_org()
    path = f"{V2}/orgs/{org_id}/serviceAccounts"
    for remaining in (4, 3, 2, 1, 0):
        response = await client.get(path)
        assert response.status_code == 200
        assert_headers(response, 5, remaining)
    assert_bucket_refusal(await client.get(path), path, 12, 5, 5)
    # The refused request changed nothing and spent nothing more: 12 s bring one token back, not less.
    clock.advance(seconds=11)
    assert (await client.get(path)).status_code == 429
    clock.advance(seconds=1)
    ok = await client.get(path)
    assert ok.status_code == 200
    assert_headers(ok, 5, 0)
    assert "Retry-After" not in ok.headers
    clock.advance(seconds=600)
    assert_headers(await client.get(path), 5, 4)


async def test_headers_on_errors_and_writes(make_app: AppFactory, connect: ClientFactory) -> None:
    client = connect(make_app())
    org_id = await client.create_org()
    missing = await client.get(f"{V2}/orgs/{org_id}/serviceAccounts/mdb_sa_id_{'0' * 24}")
    assert missing.status_code == 404
    assert_headers(missing, 5, 4)
    bad = await client.post(f"{V2}/orgs/{org_id}/serviceAccounts", json={"name": ""})
    assert bad.status_code == 400
    assert_headers(bad, 5, 3)
    settings = await client.get(f"{V2}/orgs/{org_id}/settings")
    assert settings.status_code == 200
    assert_headers(settings, 3, 2)
    org = await client.get(f"{V2}/orgs/{org_id}")
    assert_headers(org, 20, 19)


async def test_scopes_and_credentials_are_separate(make_app: AppFactory, connect: ClientFactory) -> None:
    client = connect(make_app())
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    org_path = f"{V2}/orgs/{org_id}/serviceAccounts"
    for _ in range(5):
        assert (await client.get(org_path)).status_code == 200
    assert (await client.get(org_path)).status_code == 429
    # The project scope has its own bucket (Atlas's 1200 / 500 here 7 / 7), :invite and access lists included.
    group_path = f"{V2}/groups/{group_id}/serviceAccounts"
    first = await client.get(group_path)
    assert first.status_code == 200
    assert_headers(first, 7, 6)
    for remaining in range(5, -1, -1):
        assert_headers(await client.get(group_path), 7, remaining)
    assert_bucket_refusal(await client.get(group_path), group_path, 9, 7, 7)
    # Another credential of the same organization has its own buckets.
    other = await client.as_service_account(org_id, roles=("ORG_OWNER",))
    response = await other.get(org_path)
    assert response.status_code == 200
    assert_headers(response, 5, 4)
    # And another organization is another scope for the same credential kind.
    elsewhere = connect(client.app)
    second_org = await elsewhere.create_org("second")
    assert (await elsewhere.get(f"{V2}/orgs/{second_org}/serviceAccounts")).status_code == 200


async def test_org_settings_bucket(make_app: AppFactory, connect: ClientFactory) -> None:
    client = connect(make_app())
    org_id = await client.create_org()
    path = f"{V2}/orgs/{org_id}/settings"
    statuses = [(await client.get(path)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = await client.patch(path, json={"maxServiceAccountSecretValidityInHours": 100})
    assert_bucket_refusal(refused, path, 20, 3, 3)
    assert (await client.get(f"{V2}/orgs/{org_id}/serviceAccounts")).status_code == 200


async def test_switched_off(make_app: AppFactory, connect: ClientFactory) -> None:
    client = connect(make_app(rate_limits_enabled=False))
    org_id = await client.create_org()
    for _ in range(10):
        response = await client.get(f"{V2}/orgs/{org_id}/settings")
        assert response.status_code == 200
        assert "RateLimit-Limit" not in response.headers


async def test_atlas_defaults() -> None:
    from atlas_sa.auth.ratelimits import Policies  # noqa: PLC0415
    from atlas_sa.settings import Settings  # noqa: PLC0415

    table = Policies.from_settings(Settings())
    assert (table.org_service_accounts.capacity, table.org_service_accounts.refill) == (500, 250)
    assert (table.project_service_accounts.capacity, table.project_service_accounts.refill) == (1200, 500)
    assert (table.org_settings.capacity, table.org_settings.refill, table.org_settings.period) == (10, 5, 60)
    assert (table.token.capacity, table.token.period) == (50, 60)
    assert Settings().rate_limits_enabled


async def test_token_endpoint_limit(make_app: AppFactory, connect: ClientFactory, clock: FrozenClock) -> None:
    app = make_app(rate_limit_token="3/3/60")
    client = connect(app)
    made = await client.bootstrap()
    for remaining in (2, 1, 0):
        response = await client.post(
            "/api/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(made.client_id, made.client_secret),
        )
        assert response.status_code == 200, response.text
        assert_headers(response, 3, remaining)
    refused = await client.post(
        "/api/oauth/token", data={"grant_type": "client_credentials"}, auth=(made.client_id, made.client_secret)
    )
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "Resource /api/oauth/token is limited to 3 requests every 1 minutes.",
        "error": 429,
        "errorCode": "RATE_LIMITED",
        "parameters": ["/api/oauth/token", 3, 1],
        "reason": "Too Many Requests",
    }
    assert refused.headers["Retry-After"] == "20"
    assert_headers(refused, 3, 0)
    # Per client id and address: the same client from another address has its own budget.
    elsewhere = connect(app, "198.51.100.20")
    other = await elsewhere.post(
        "/api/oauth/token", data={"grant_type": "client_credentials"}, auth=(made.client_id, made.client_secret)
    )
    assert other.status_code == 200
    clock.advance(seconds=20)
    again = await client.post(
        "/api/oauth/token", data={"grant_type": "client_credentials"}, auth=(made.client_id, made.client_secret)
    )
    assert again.status_code == 200


async def test_buckets_shared_by_instances_on_postgresql(
    make_app: AppFactory, connect: ClientFactory, database_url: str
) -> None:
    one, two = make_app(), make_app()
    first = connect(one)
    org_id = await first.create_org()
    second = connect(two)
    second.headers["Authorization"] = first.headers["Authorization"]
    path = f"{V2}/orgs/{org_id}/serviceAccounts"
    statuses = [(await (first if i % 2 else second).get(path)).status_code for i in range(6)]
    if database_url.startswith("postgresql"):
        # One bucket in the database: five requests in total pass, whichever instance served them.
        assert statuses == [200] * 5 + [429]
    else:
        # SQLite deployments are one process: each app has its own in-memory buckets.
        assert statuses == [200] * 6
