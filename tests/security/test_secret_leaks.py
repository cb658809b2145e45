"""Secrets never leak: issue client secrets, an API private key and access tokens, make requests that fail in many
ways with every logger at DEBUG, then search the logs, every response (bodies and headers) and the database (the
SQLite file and its WAL byte for byte; every PostgreSQL table dumped through SQL) for anything recoverable: the
value itself, its random part, its base64 and hex forms, a token's signature."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from atlas_sa.kit.clock import FrozenClock
from atlas_sa.models import Base
from tests.auth.digest.helpers import DigestFields, parse_challenge, seed_api_key
from tests.security.leaks import assert_absent, responses_text
from tests.support.client import TOKEN_PATH, AtlasClient, basic
from tests.support.server import bootstrap, live_server
from tests.support.settings import MASTER_KEY

V2 = "/api/atlas/v2"


async def database_bytes(client: AtlasClient, database_url: str) -> bytes:
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    dump = []
    async with client.state.db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = (await connection.execute(text(f'SELECT * FROM "{table.name}"'))).all()  # noqa: S608
            for row in rows:
                for value in row:
                    dump.append(bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode())
    return b"\n".join(dump)


async def exercise(client: AtlasClient, clock: FrozenClock) -> tuple[dict[str, str], list[httpx.Response]]:
    """Issue every kind of secret, then fail with them in every way we can think of; the secrets, and every
    response after the one create response that shows each secret."""
    seen: list[httpx.Response] = []
    org_id = await client.create_org()
    created = await client.post(
        f"{V2}/orgs/{org_id}/serviceAccounts",
        json={"name": "bot", "description": "leaks nothing", "roles": ["ORG_OWNER"], "secretExpiresAfterHours": 24},
    )
    assert created.status_code == 201
    account = created.json()
    client_id, secret = account["clientId"], account["secrets"][0]["secret"]
    second = await client.post(
        f"{V2}/orgs/{org_id}/serviceAccounts/{client_id}/secrets", json={"secretExpiresAfterHours": 24}
    )
    assert second.status_code == 201
    second_secret = second.json()["secret"]
    state = client.state
    public_key, private_key = await seed_api_key(state.db, state.keys, clock, org_id, ("ORG_OWNER",))
    caller = client.anonymous()
    access_token = await caller.token_for(client_id, secret)
    revoked_token = await caller.token_for(client_id, second_secret)
    secrets = {
        "client secret": secret,
        "second client secret": second_secret,
        "API private key": private_key,
        "access token": access_token,
        "revoked access token": revoked_token,
        "server key": MASTER_KEY,
    }
    bearer = {"Authorization": f"Bearer {access_token}"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    async def send(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await caller.request(method, path, **kwargs)
        seen.append(response)
        return response

    # The token endpoint, failing: near-miss secrets, both methods at once, bad grants, junk, oversized forms.
    await send("POST", TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=basic(client_id, secret + "x"))
    await send("POST", TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=basic(client_id, secret[:-1]))
    await send(
        "POST",
        TOKEN_PATH,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        headers=basic(client_id, secret),
    )
    await send("POST", TOKEN_PATH, data={"grant_type": "password", "client_id": client_id, "client_secret": secret})
    await send("POST", TOKEN_PATH, content=f"grant_type=client_credentials&client_secret={secret}&x=%ff", headers=form)
    await send("POST", TOKEN_PATH, content=f"client_secret={secret}&pad={'x' * 9000}", headers=form)
    await send("POST", TOKEN_PATH, json={"client_id": client_id, "client_secret": secret})
    await send(
        "POST", TOKEN_PATH, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {secret}"}
    )
    # Bearer tokens, failing: tampered, wrong scheme, unknown routes, bad bodies, missing resources, revoked.
    await send("GET", f"{V2}/orgs/{org_id}", headers={"Authorization": f"Bearer {access_token}x"})
    await send("GET", f"{V2}/orgs/{org_id}", headers={"Authorization": f"Token {access_token}"})
    await send("GET", f"{V2}/nowhere", headers=bearer)
    await send("POST", f"{V2}/orgs/{org_id}/serviceAccounts", content=b"{not json", headers=bearer)
    await send("POST", f"{V2}/orgs/{org_id}/serviceAccounts", json={"name": "x"}, headers=bearer)
    await send("GET", f"{V2}/orgs/{org_id}/serviceAccounts/mdb_sa_id_{'0' * 24}", headers=bearer)
    await send("GET", f"{V2}/groups/{'f' * 24}", headers=bearer)
    await send("GET", f"{V2}/orgs/{org_id}", headers=bearer | {"Accept": "application/json"})
    await send("POST", "/api/oauth/introspect", data={"token": access_token}, headers=basic(client_id, secret))
    await send("POST", "/api/oauth/revoke", data={"token": revoked_token}, headers=basic(client_id, second_secret))
    await send("GET", f"{V2}/orgs/{org_id}", headers={"Authorization": f"Bearer {revoked_token}"})
    await send("POST", "/api/oauth/introspect", data={"token": revoked_token}, headers=basic(client_id, "wrong"))
    # Digest, failing: wrong key, a right key on a missing resource, a replay.
    path = f"{V2}/orgs/{org_id}"
    nonce = parse_challenge((await send("GET", path)).headers["www-authenticate"])["nonce"]
    await send(
        "GET", path, headers={"Authorization": DigestFields(public_key, private_key + "x", nonce, path).header()}
    )
    missing = f"{V2}/groups/{'e' * 24}"
    fields = DigestFields(public_key, private_key, nonce, missing)
    await send("GET", missing, headers={"Authorization": fields.header()})
    await send("GET", missing, headers={"Authorization": fields.header()})
    # A secret deleted, and the account deleted, with its tokens in use.
    secret_id = second.json()["id"]
    await send("DELETE", f"{V2}/orgs/{org_id}/serviceAccounts/{client_id}/secrets/{secret_id}", headers=bearer)
    await send("DELETE", f"{V2}/orgs/{org_id}/serviceAccounts/{client_id}", headers=bearer)
    await send("GET", f"{V2}/orgs/{org_id}", headers=bearer)
    await send("POST", TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=basic(client_id, secret))
    assert any(r.status_code == 401 for r in seen)
    assert any(r.status_code == 404 for r in seen)
    big = f"{secret} ".encode() * 40_000
    await send(
        "POST",
        f"{V2}/orgs/{org_id}/serviceAccounts",
        content=big,
        headers=bearer | {"Content-Type": "application/json"},
    )
    assert any(r.status_code == 400 for r in seen)
    assert any(r.status_code == 413 for r in seen)
    return secrets, seen


LOUD = ("atlas_sa", "sqlalchemy", "sqlalchemy.engine", "uvicorn", "httpx", "asyncio")


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The loggers that could see a secret at DEBUG, captured; each one's level, handlers, propagation and state as
    they were afterwards, so that no later test depends on this one having run."""
    loggers = [logging.getLogger(name) for name in LOUD]
    saved = [(logger.level, list(logger.handlers), logger.propagate, logger.disabled) for logger in loggers]
    caplog.set_level(logging.DEBUG)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        for logger, (level, handlers, propagate, disabled) in zip(loggers, saved, strict=True):
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate, logger.disabled = propagate, disabled


async def test_no_secret_in_logs_bodies_or_database(
    client: AtlasClient, clock: FrozenClock, every_logger_at_debug: pytest.LogCaptureFixture, database_url: str
) -> None:
    caplog = every_logger_at_debug
    secrets, responses = await exercise(client, clock)
    assert len(caplog.records) > 0, "DEBUG logging was captured"
    logs = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records).encode()
    assert_absent(logs, secrets, "the logs")
    assert_absent(responses_text(responses), secrets, "a response")
    assert_absent(await database_bytes(client, database_url), secrets, "the database")


def test_no_secret_on_a_live_servers_stderr(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'leaks.db'}"
    env = {"ATLAS_SA_SECRET_KEY": MASTER_KEY, "ATLAS_SA_LOG_LEVEL": "debug", "ATLAS_SA_AUTH_FAILURE_DELAY_SECONDS": "0"}
    made = bootstrap(url, env)
    client_id, secret = made["clientId"], made["clientSecret"]
    public_key, private_key = made["publicKey"], made["privateKey"]
    with live_server(url, env=env) as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            token = http.post(TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(client_id, secret))
            assert token.status_code == 200
            access_token = token.json()["access_token"]
            bodies = [token]
            bodies.append(
                http.post(TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(client_id, secret + "x"))
            )
            bodies.append(http.post(TOKEN_PATH, data={"grant_type": "client_credentials", "client_secret": secret}))
            bodies.append(
                http.post(
                    TOKEN_PATH,
                    content=f"client_secret={secret}&p={'x' * 9000}",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            )
            bearer = {"Authorization": f"Bearer {access_token}", "Accept": "application/vnd.atlas.2025-03-12+json"}
            bodies.append(http.get(f"{V2}/orgs/{made['orgId']}", headers=bearer))
            bodies.append(http.get(f"{V2}/orgs/{'a' * 24}", headers=bearer))
            bodies.append(http.post(f"{V2}/orgs/{made['orgId']}/serviceAccounts", content=b"{", headers=bearer))
            bodies.append(http.get(f"{V2}/orgs/{made['orgId']}", headers={"Authorization": f"Bearer {access_token}x"}))
            bodies.append(http.get(f"{V2}/x", headers=bearer))
            path = f"{V2}/orgs/{made['orgId']}"
            challenge = http.get(path, headers={"Accept": bearer["Accept"]})
            nonce = parse_challenge(challenge.headers["www-authenticate"])["nonce"]
            digest = DigestFields(public_key, private_key + "x", nonce, path).header()
            bodies.append(http.get(path, headers={"Authorization": digest, "Accept": bearer["Accept"]}))
            digest = DigestFields(public_key, private_key, nonce, path).header()
            ok = http.get(path, headers={"Authorization": digest, "Accept": bearer["Accept"]})
            assert ok.status_code == 200, ok.text
            bodies.append(http.post("/api/oauth/revoke", data={"token": access_token}, auth=(client_id, secret)))
        log = server.log().encode()
    secrets = {"client secret": secret, "API private key": private_key, "access token": access_token}
    assert b"POST /api/oauth/token" in log, "the access log was captured"
    assert_absent(log, secrets, "the server's stderr")
    assert_absent(responses_text(bodies[1:]), secrets, "a response")
    assert_absent(Path(url.removeprefix("sqlite:///")).read_bytes(), secrets, "the database file")
