"""Authentication failures and lockouts are logged as such, at WARNING, with the claimed identity and the address and
never the credential (ASVS V16), and counted in the metrics; rate-limited token requests are counted apart
(atlas_sa.auth.failures)."""

from __future__ import annotations

import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from atlas_sa.app import create_app
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.settings import Settings
from tests.auth.digest.helpers import DigestFields, parse_challenge, seed_api_key
from tests.support.client import TOKEN_PATH, AtlasClient, basic
from tests.support.settings import settings_on

GRANT = {"grant_type": "client_credentials"}
HOME = "203.0.113.7"  # the `client` fixture's address
V2 = "/api/atlas/v2"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_on(
        database_url,
        auth_failures_per_client_address=3,
        auth_failure_delay_seconds=0.0,
        rate_limits_enabled=False,
    )


async def counter(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "atlas_sa.auth.failures" and r.levelno == logging.WARNING]


def logged(records: list[logging.LogRecord]) -> str:
    return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in records)


async def test_failures_are_logged_with_who_and_where_never_the_secret(
    client: AtlasClient, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    org_id = await client.create_org()
    assert client.credentials is not None
    client_id, secret = client.credentials.client_id, client.credentials.client_secret
    access_token = client.headers["Authorization"].removeprefix("Bearer ")
    public_key, private_key = await seed_api_key(client.state.db, client.state.keys, clock, org_id)
    caller = client.anonymous()
    before = {
        scheme: await counter(client, "atlas_sa_auth_failures_total", scheme=scheme)
        for scheme in ("oauth", "digest", "bearer")
    }
    caplog.set_level(logging.DEBUG, logger="atlas_sa")

    assert (await caller.post(TOKEN_PATH, data=GRANT, headers=basic(client_id, secret + "x"))).status_code == 401
    # A client that swapped its id and secret: the "id" it claims is a secret, and is not written.
    assert (await caller.post(TOKEN_PATH, data=GRANT, headers=basic(secret, client_id))).status_code == 401
    assert (await caller.get(f"{V2}/orgs", headers={"Authorization": f"Bearer {access_token}x"})).status_code == 401
    path = f"{V2}/orgs/{org_id}"
    nonce = parse_challenge((await caller.get(path)).headers["www-authenticate"])["nonce"]
    wrong = DigestFields(public_key, private_key + "x", nonce, path).header()
    assert (await caller.get(path, headers={"Authorization": wrong})).status_code == 401
    # The private key typed as the user name.
    swapped = DigestFields(private_key, public_key, nonce, path).header()
    assert (await caller.get(path, headers={"Authorization": swapped})).status_code == 401

    records = warnings(caplog)
    messages = [r.getMessage() for r in records]
    assert messages == [
        f"authentication failed: scheme=oauth client={client_id} address={HOME}",
        f"authentication failed: scheme=oauth client=(not an id) address={HOME}",
        f"authentication failed: scheme=bearer client=- address={HOME}",
        f"authentication failed: scheme=digest client={public_key} address={HOME}",
        f"authentication failed: scheme=digest client=(not an id) address={HOME}",
    ]
    assert [getattr(r, "event", None) for r in records] == ["authentication_failed"] * 5
    everything = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for credential in (secret, access_token, private_key, access_token.rsplit(".", 1)[1]):
        assert credential not in everything
    after = {scheme: await counter(client, "atlas_sa_auth_failures_total", scheme=scheme) for scheme in before}
    assert {scheme: after[scheme] - before[scheme] for scheme in before} == {"oauth": 2, "digest": 2, "bearer": 1}


async def test_a_lockout_is_logged_and_counted(client: AtlasClient, caplog: pytest.LogCaptureFixture) -> None:
    await client.create_org()
    assert client.credentials is not None
    client_id, secret = client.credentials.client_id, client.credentials.client_secret
    caller = client.anonymous()
    began = await counter(client, "atlas_sa_auth_lockouts_total", scheme="oauth", bucket="pair")
    refused = await counter(client, "atlas_sa_auth_locked_out_requests_total", scheme="oauth")
    locked = await counter(client, "atlas_sa_tokens_refused_total", reason="locked_out")
    caplog.set_level(logging.INFO, logger="atlas_sa")

    for _ in range(3):  # the pair's bucket holds 3
        assert (await caller.post(TOKEN_PATH, data=GRANT, headers=basic(client_id, "wrong"))).status_code == 401
    # Locked out: refused before the secret is checked, the right one included.
    assert (await caller.post(TOKEN_PATH, data=GRANT, headers=basic(client_id, secret))).status_code == 429

    messages = [r.getMessage() for r in warnings(caplog)]
    assert messages[-2:] == [
        f"lockout begun: scheme=oauth bucket=pair client={client_id} address={HOME}",
        f"attempt refused during lockout: scheme=oauth bucket=pair client={client_id} address={HOME}",
    ]
    assert secret not in logged(caplog.records)
    assert await counter(client, "atlas_sa_auth_lockouts_total", scheme="oauth", bucket="pair") == began + 1
    assert await counter(client, "atlas_sa_auth_locked_out_requests_total", scheme="oauth") == refused + 1
    assert await counter(client, "atlas_sa_tokens_refused_total", reason="locked_out") == locked + 1


async def test_rate_limited_token_requests_are_counted(settings: Settings, clock: FrozenClock, db: Database) -> None:
    limited = settings.model_copy(update={"rate_limits_enabled": True, "rate_limit_token": "2/1/60"})
    app = create_app(limited, clock=clock, database=db)
    transport = httpx.ASGITransport(app=app, client=(HOME, 50000))
    async with AtlasClient(app=app, transport=transport, base_url="http://atlas.test") as client:
        await client.create_org()  # the first token
        assert client.credentials is not None
        credentials = basic(client.credentials.client_id, client.credentials.client_secret)
        before = await counter(client, "atlas_sa_rate_limited_requests_total", policy="token")
        refused = await counter(client, "atlas_sa_tokens_refused_total", reason="rate_limited")
        assert (await client.post(TOKEN_PATH, data=GRANT, headers=credentials)).status_code == 200
        assert (await client.post(TOKEN_PATH, data=GRANT, headers=credentials)).status_code == 429
        assert await counter(client, "atlas_sa_rate_limited_requests_total", policy="token") == before + 1
        assert await counter(client, "atlas_sa_tokens_refused_total", reason="rate_limited") == refused + 1
