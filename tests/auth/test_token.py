"""``POST /api/oauth/token`` (RFC 6749 §4.4) over real HTTP: both client-authentication styles, every error, and
secrets that are wrong, expired or deleted."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import delete, select

from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.models import AccessToken, ServiceAccountSecret
from tests.conftest import EPOCH
from tests.support.client import TOKEN_PATH, AtlasClient, basic
from tests.support.rows import count

GRANT = {"grant_type": "client_credentials"}
INVALID_CLIENT = {"error": "invalid_client", "error_description": "Invalid credentials provided."}
INVALID_REQUEST = {"error": "invalid_request", "error_description": "The provided credentials are not valid."}
UNSUPPORTED_GRANT = {"error": "unsupported_grant_type", "error_description": "Invalid grant type."}


async def credentials(client: AtlasClient) -> tuple[str, str]:
    made = await client.bootstrap("acme")
    return made.client_id, made.client_secret


def assert_token_response(response: object, client_id: str) -> dict[str, object]:
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert headers["pragma"] == "no-cache"
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["expires_in"] == 3600
    assert body["token_type"] == "Bearer"
    claims = jwt.decode(str(body["access_token"]), options={"verify_signature": False})
    assert claims["sub"] == claims["cid"] == claims["actorId"] == client_id
    assert claims["aud"] == "api://admin"
    assert claims["iss"] == "http://127.0.0.1:8080"
    assert claims["iat"] == int(EPOCH.timestamp())
    assert claims["exp"] == claims["iat"] + 3600
    header = jwt.get_unverified_header(str(body["access_token"]))
    assert header["alg"] == "ES256"
    assert header["kid"]
    return body


async def test_basic_authentication(client: AtlasClient, db: Database) -> None:
    client_id, secret = await credentials(client)
    response = await client.post(TOKEN_PATH, data=GRANT, headers=basic(client_id, secret))
    body = assert_token_response(response, client_id)
    claims = jwt.decode(str(body["access_token"]), options={"verify_signature": False})
    async with db.unit_of_work(write=False) as session:
        [row] = (await session.execute(select(AccessToken))).scalars().all()
        [stored] = (await session.execute(select(ServiceAccountSecret))).scalars().all()
    assert row.jti == claims["jti"]
    assert row.secret_id == claims["sid"] == stored.id
    assert row.expires_at == EPOCH + timedelta(hours=1)
    assert stored.last_used_at == EPOCH


async def test_form_authentication(client: AtlasClient) -> None:
    client_id, secret = await credentials(client)
    response = await client.post(TOKEN_PATH, data={**GRANT, "client_id": client_id, "client_secret": secret})
    assert_token_response(response, client_id)


async def test_token_works_on_the_api(client: AtlasClient) -> None:
    made = await client.bootstrap("acme", project_name="p")
    token = await client.token_for(made.client_id, made.client_secret)
    response = await client.get(f"/api/atlas/v2/groups/{made.group_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["orgId"] == made.org_id


async def test_basic_halves_are_percent_decoded(client: AtlasClient) -> None:
    # RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic encoding; an encoder may escape any
    # character, and '+' stands for a space (so a raw '+' in a secret would have to arrive as %2B).
    client_id, secret = await credentials(client)
    escaped_id = "".join(f"%{ord(c):02X}" for c in client_id)
    raw = f"{escaped_id}:{secret.replace('-', '%2D')}".encode()
    response = await client.post(
        TOKEN_PATH, data=GRANT, headers={"Authorization": "Basic " + base64.b64encode(raw).decode()}
    )
    assert_token_response(response, client_id)


async def test_wrong_secret_and_unknown_client(client: AtlasClient, db: Database) -> None:
    client_id, secret = await credentials(client)
    for presented_id, presented_secret in [
        (client_id, secret[:-1] + ("A" if secret[-1] != "A" else "B")),
        (client_id, ""),
        ("mdb_sa_id_" + "0" * 24, secret),
        ("not-a-client-id", secret),
        ("", ""),
        (client_id, secret * 100),
    ]:
        response = await client.post(TOKEN_PATH, data=GRANT, headers=basic(presented_id, presented_secret))
        assert response.status_code == 401, (presented_id, presented_secret)
        assert response.json() == INVALID_CLIENT
        assert response.headers["www-authenticate"].startswith('Basic realm="atlas-sa"')
        assert response.headers["cache-control"] == "no-store"
    assert await count(db, AccessToken) == 0


async def test_no_client_authentication(client: AtlasClient) -> None:
    await credentials(client)
    response = await client.post(TOKEN_PATH, data=GRANT)
    assert response.status_code == 401
    assert response.json() == INVALID_CLIENT
    other_scheme = await client.post(TOKEN_PATH, data=GRANT, headers={"Authorization": "Bearer abc"})
    assert other_scheme.status_code == 401
    assert other_scheme.json() == INVALID_CLIENT


async def test_expired_secret_never_mints(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()
    account = await client.add_account(org_id, ["ORG_OWNER"], secret_hours=8)
    clock.advance(hours=8, seconds=-1)
    assert (
        await client.post(TOKEN_PATH, data=GRANT, headers=basic(account.client_id, account.client_secret))
    ).is_success
    clock.advance(seconds=1)
    response = await client.post(TOKEN_PATH, data=GRANT, headers=basic(account.client_id, account.client_secret))
    assert response.status_code == 401
    assert response.json() == INVALID_CLIENT


async def test_deleted_secret_never_mints(client: AtlasClient, db: Database) -> None:
    client_id, secret = await credentials(client)
    async with db.unit_of_work() as session:
        await session.execute(delete(ServiceAccountSecret))
    response = await client.post(TOKEN_PATH, data=GRANT, headers=basic(client_id, secret))
    assert response.status_code == 401
    assert response.json() == INVALID_CLIENT


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({}, INVALID_REQUEST),
        ({"grant_type": ""}, INVALID_REQUEST),
        ({"grant_type": "password"}, UNSUPPORTED_GRANT),
        ({"grant_type": "authorization_code"}, UNSUPPORTED_GRANT),
        ({"grant_type": "CLIENT_CREDENTIALS"}, UNSUPPORTED_GRANT),
    ],
)
async def test_grant_type_errors(client: AtlasClient, form: dict[str, str], expected: dict[str, str]) -> None:
    client_id, secret = await credentials(client)
    response = await client.post(TOKEN_PATH, data=form, headers=basic(client_id, secret))
    assert response.status_code == 400
    assert response.json() == expected
    assert response.headers["content-type"] == "application/json"


async def test_request_errors(client: AtlasClient, db: Database) -> None:
    client_id, secret = await credentials(client)
    auth = basic(client_id, secret)
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    cases: list[tuple[dict[str, str], bytes]] = [
        # Two client authentications at once.
        (auth | form_type, f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}".encode()),
        (auth | form_type, f"grant_type=client_credentials&client_id={client_id}".encode()),
        # Half of the form authentication.
        (form_type, f"grant_type=client_credentials&client_id={client_id}".encode()),
        (form_type, f"grant_type=client_credentials&client_secret={secret}".encode()),
        # A repeated parameter (RFC 6749 §3.2).
        (auth | form_type, b"grant_type=client_credentials&grant_type=client_credentials"),
        # Not a form.
        (auth | {"Content-Type": "application/json"}, b'{"grant_type": "client_credentials"}'),
        (auth, b"grant_type=client_credentials"),
        # Undecodable bodies.
        (auth | form_type, b"grant_type=client_credentials&x=%ff%fe"),
        (auth | form_type, b"grant_type=client_credentials&\xff=1"),
        (auth | form_type, b"&".join([b"a%d=1" % i for i in range(100)]) + b"&grant_type=client_credentials"),
        (auth | form_type, b"grant_type=client_credentials&pad=" + b"x" * 10_000),
        # Malformed Basic credentials.
        ({"Authorization": "Basic !!!notbase64"} | form_type, b"grant_type=client_credentials"),
        (
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()} | form_type,
            b"grant_type=client_credentials",
        ),
        (
            {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()} | form_type,
            b"grant_type=client_credentials",
        ),
        (
            {"Authorization": "Basic " + base64.b64encode(b"%ff%fe:x").decode()} | form_type,
            b"grant_type=client_credentials",
        ),
    ]
    for headers, body in cases:
        request = client.build_request("POST", TOKEN_PATH, content=body, headers=headers)
        if "Content-Type" not in headers:
            request.headers.pop("Content-Type", None)
        response = await client.send(request)
        assert response.status_code == 400, (headers, body[:80], response.text)
        assert response.json() == INVALID_REQUEST, (headers, body[:80])
    assert await count(db, AccessToken) == 0


async def test_pretty_accept_and_charset_are_irrelevant(client: AtlasClient) -> None:
    client_id, secret = await credentials(client)
    response = await client.post(
        f"{TOKEN_PATH}?pretty=true&envelope=true",
        content=b"grant_type=client_credentials",
        headers=basic(client_id, secret)
        | {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8", "Accept": "text/html"},
    )
    assert_token_response(response, client_id)


async def test_at_most_100_active_tokens(client: AtlasClient, clock: FrozenClock, db: Database) -> None:
    client_id, secret = await credentials(client)
    tokens = []
    for _ in range(101):
        tokens.append(await client.token_for(client_id, secret))
        clock.advance(seconds=1)
    assert await count(db, AccessToken) == 100
    oldest, newest = tokens[0], tokens[-1]
    group = "/api/atlas/v2/groups"
    assert (await client.get(group, headers={"Authorization": f"Bearer {oldest}"})).status_code == 401
    assert (await client.get(group, headers={"Authorization": f"Bearer {tokens[1]}"})).status_code == 200
    assert (await client.get(group, headers={"Authorization": f"Bearer {newest}"})).status_code == 200


async def test_expired_tokens_are_swept_on_mint(client: AtlasClient, clock: FrozenClock, db: Database) -> None:
    client_id, secret = await credentials(client)
    await client.token_for(client_id, secret)
    clock.advance(hours=1)
    await client.token_for(client_id, secret)
    assert await count(db, AccessToken) == 1


async def test_method_and_unknown_paths_are_atlas_errors(client: AtlasClient) -> None:
    response = await client.get(TOKEN_PATH)
    assert response.status_code == 405
    assert response.json()["errorCode"] == "METHOD_NOT_ALLOWED"


async def test_oversized_streamed_body_is_not_a_500(client: AtlasClient) -> None:
    client_id, secret = await credentials(client)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"grant_type=client_credentials&pad="
        for _ in range(300):
            yield b"x" * 4096

    response = await client.post(
        TOKEN_PATH,
        content=chunks(),
        headers=basic(client_id, secret) | {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= response.status_code < 500, response.text
