"""Every response carries its request id (the client's when well-formed) and is counted in ``/metrics`` under its
route template, whichever way it was answered: routed, fast path, unknown route, refused by a limit, failed
(atlas_sa.kit.observe). The metrics are read back with prometheus-client's own parser after real traffic."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from atlas_sa.app import create_app
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.settings import Settings
from tests.support.client import SA_VERSION, TOKEN_PATH, AtlasClient, accept, basic
from tests.support.settings import settings_on

V2 = "/api/atlas/v2"
GENERATED = re.compile(r"[0-9a-f]{32}")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Minting many tokens for one client would meet the token endpoint's own rate limit (50 a minute).
    return settings_on(
        database_url,
        rate_limits_enabled=False,
        request_timeout=0.2,
    )


async def scrape(client: httpx.AsyncClient, url: str = "/metrics") -> Samples:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests(samples: Samples, method: str, route: str, status: int) -> float:
    return value(samples, "atlas_sa_http_requests_total", method=method, route=route, status=str(status))


async def test_a_request_id_is_generated_kept_or_replaced(client: AtlasClient) -> None:
    generated = await client.get("/healthz")
    assert GENERATED.fullmatch(generated.headers["x-request-id"])
    assert (await client.get("/healthz")).headers["x-request-id"] != generated.headers["x-request-id"]
    for kept in ("abc-123", "0af7651916cd43dd8448eb211c80319c", "trace:span.1_2", "x" * 128):
        assert (await client.get("/healthz", headers={"X-Request-Id": kept})).headers["x-request-id"] == kept
    for refused in ("x" * 129, "has space", "semi;colon", 'quote"', "é".encode(), b"new\x0bline", ""):
        answered = (await client.get("/healthz", headers={"X-Request-Id": refused})).headers["x-request-id"]
        assert GENERATED.fullmatch(answered), refused


async def test_every_kind_of_answer_echoes_the_request_id(
    client: AtlasClient, app: FastAPI, settings: Settings
) -> None:
    org_id = await client.create_org()
    assert client.credentials is not None
    account_url = f"{V2}/orgs/{org_id}/serviceAccounts/{client.credentials.client_id}"

    async def boom() -> None:
        raise RuntimeError

    app.add_api_route("/boom", boom)  # an unexpected failure: the 500 of Starlette's error middleware

    async def trickle() -> AsyncIterator[bytes]:
        yield b"grant_type="
        await asyncio.sleep(2)  # past the request timeout (0.2 s): 408
        yield b"client_credentials"

    failing = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=failing, base_url="http://atlas.test") as raw:
        answers = {
            "fast token": await client.post(
                TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=client_basic(client)
            ),
            "routed read": await client.get(account_url, headers=accept(SA_VERSION)),
            "fast read": await client.get(account_url, headers=accept(SA_VERSION)),
            "OAuth error": await client.post(TOKEN_PATH, data={"grant_type": "password"}),
            "401": await client.anonymous().get(account_url),
            "404": await client.get(f"{V2}/nowhere"),
            "405": await client.put(f"{V2}/orgs"),
            "406": await client.get(account_url, headers={"Accept": "application/json"}),
            "413": await client.post(TOKEN_PATH, content=b"x" * (settings.max_body_bytes + 1)),
            "408": await raw.post(
                TOKEN_PATH, content=trickle(), headers={"Content-Type": "application/x-www-form-urlencoded"}
            ),
            "500": await raw.get("/boom"),
        }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "fast token": 200,
        "routed read": 200,
        "fast read": 200,
        "OAuth error": 400,
        "401": 401,
        "404": 404,
        "405": 405,
        "406": 406,
        "413": 413,
        "408": 408,
        "500": 500,
    }
    for name, response in answers.items():
        assert GENERATED.fullmatch(response.headers.get("x-request-id", "")), name
        assert len(response.headers.get_list("x-request-id")) == 1, name
    sent = await client.get(account_url, headers={**accept(SA_VERSION), "X-Request-Id": "fast-1"})
    assert sent.headers["x-request-id"] == "fast-1"


def client_basic(client: AtlasClient) -> dict[str, str]:
    assert client.credentials is not None
    return basic(client.credentials.client_id, client.credentials.client_secret)


async def test_metrics_count_real_traffic_by_route_template(client: AtlasClient) -> None:
    before = await scrape(client)
    org_id = await client.create_org()  # one token issued
    assert client.credentials is not None
    client_id = client.credentials.client_id
    account_url = f"{V2}/orgs/{org_id}/serviceAccounts/{client_id}"
    for _ in range(3):  # the first routed, the others from the view cache (the fast path)
        assert (await client.get(account_url, headers=accept(SA_VERSION))).status_code == 200
    assert (await client.anonymous().post(TOKEN_PATH, data={"grant_type": "client_credentials"})).status_code == 401
    wrong = basic(client_id, client.credentials.client_secret + "x")
    assert (await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=wrong)).status_code == 401
    assert (await client.post(TOKEN_PATH, data={"grant_type": "password"})).status_code == 400
    assert (await client.get(f"{V2}/orgs/{org_id}/nowhere/{client_id}")).status_code == 404
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    template = "/api/atlas/v2/orgs/{orgId}/serviceAccounts/{clientId}"
    assert requests(after, "GET", template, 200) - requests(before, "GET", template, 200) == 3
    assert requests(after, "POST", TOKEN_PATH, 200) - requests(before, "POST", TOKEN_PATH, 200) == 1
    assert requests(after, "POST", TOKEN_PATH, 401) - requests(before, "POST", TOKEN_PATH, 401) == 2
    assert requests(after, "GET", "unrouted", 404) - requests(before, "GET", "unrouted", 404) == 1
    # Never the raw path: no label holds an id.
    assert not [key for key in after if any(org_id in label or client_id in label for _, label in key[1])]
    assert delta("atlas_sa_http_request_duration_seconds_count", method="GET", route=template) == 3
    assert delta("atlas_sa_http_request_duration_seconds_bucket", method="GET", route=template, le="+Inf") == 3
    assert delta("atlas_sa_tokens_issued_total") == 1
    assert delta("atlas_sa_tokens_refused_total", reason="invalid_client") == 2
    assert delta("atlas_sa_tokens_refused_total", reason="unsupported_grant_type") == 1
    assert delta("atlas_sa_auth_failures_total", scheme="oauth") == 2
    # Reads: one view miss (routed), then two hits; the token's principal missed once, then hit.
    assert delta("atlas_sa_cache_misses_total", cache="view") == 1
    assert delta("atlas_sa_cache_hits_total", cache="view") == 2
    assert delta("atlas_sa_cache_misses_total", cache="principal") == 1
    assert delta("atlas_sa_cache_hits_total", cache="principal") == 2
    assert (
        delta("atlas_sa_cache_hits_total", cache="client") + delta("atlas_sa_cache_misses_total", cache="client") == 2
    )
    assert ("atlas_sa_db_pool_connections_in_use", (("pool", "primary"),)) in after
    assert any(name == "process_cpu_seconds_total" for name, _ in after)
    # The scrapes themselves are requests too.
    assert requests(after, "GET", "/metrics", 200) - requests(before, "GET", "/metrics", 200) == 1


async def test_the_expiring_secrets_gauge_counts_the_window(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()  # its secret expires in a year
    for hours in (8, 24 * 7, 24 * 7 + 1, 24 * 30):  # 8 hours is the shortest a secret may live
        await client.add_account(org_id, secret_hours=hours, name=f"expires-{hours}")
    assert value(await scrape(client), "atlas_sa_secrets_expiring") == 2  # within 7 days: 8 h and exactly 7 days
    clock.advance(hours=9)  # the 8-hour secret has expired; the 7-days-and-1-hour one entered
    assert value(await scrape(client), "atlas_sa_secrets_expiring") == 2
    clock.advance(days=8)  # the year-long ones remain
    assert value(await scrape(client), "atlas_sa_secrets_expiring") == 0


async def test_the_window_is_a_setting(settings: Settings, clock: FrozenClock, db: Database) -> None:
    app = create_app(settings.model_copy(update={"secret_expiry_warning_days": 31}), clock=clock, database=db)
    async with AtlasClient(app=app, transport=httpx.ASGITransport(app=app), base_url="http://atlas.test") as client:
        org_id = await client.create_org()
        await client.add_account(org_id, secret_hours=24 * 30)
        assert value(await scrape(client), "atlas_sa_secrets_expiring") == 1


async def test_a_metrics_port_serves_metrics_alone(settings: Settings, clock: FrozenClock, db: Database) -> None:
    app = create_app(settings.model_copy(update={"metrics_port": 9464}), clock=clock, database=db)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://atlas.test:8080") as main,
        httpx.AsyncClient(transport=transport, base_url="http://atlas.test:9464") as metrics,
    ):
        assert (await main.get("/metrics")).status_code == 404
        assert (await main.get("/healthz")).status_code == 200
        assert value(
            await scrape(metrics), "atlas_sa_http_requests_total", method="GET", route="/healthz", status="200"
        )
        for path in ("/healthz", "/api/atlas/v2/orgs", TOKEN_PATH):
            refused = await metrics.get(path)
            assert (refused.status_code, refused.json()["errorCode"]) == (404, "NOT_FOUND"), path
        assert (await metrics.post("/metrics")).status_code == 405
