"""Revocation (RFC 7009), introspection (RFC 7662), the JWKS, RFC 8414 metadata, and signing-key rotation."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
from sqlalchemy import select

from atlas_sa.app import create_app
from atlas_sa.auth.repository import SigningKeyRepository
from atlas_sa.auth.signing import rotate
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.models import SigningKey
from atlas_sa.settings import Settings
from tests.support.client import AtlasClient, basic

REVOKE = "/api/oauth/revoke"
INTROSPECT = "/api/oauth/introspect"
GROUPS = "/api/atlas/v2/groups"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def owner_token(client: AtlasClient) -> tuple[str, str, str]:
    await client.create_org()
    assert client.credentials is not None
    token = client.headers["Authorization"].removeprefix("Bearer ")
    return client.credentials.client_id, client.credentials.client_secret, token


async def test_revoke_own_token(client: AtlasClient) -> None:
    client_id, secret, token = await owner_token(client)
    spare = await client.token_for(client_id, secret)
    response = await client.post(
        REVOKE, data={"token": token, "token_type_hint": "access_token"}, headers=basic(client_id, secret)
    )
    assert response.status_code == 200
    assert response.content == b""
    assert (await client.get(GROUPS)).status_code == 401
    # Only that token: the account's other token still works.
    assert (await client.get(GROUPS, headers=bearer(spare))).status_code == 200
    # Revoking again, or revoking junk, is still 200 (RFC 7009 §2.2).
    for junk in (token, "junk", ""):
        again = await client.post(REVOKE, data={"token": junk}, headers=basic(client_id, secret))
        assert again.status_code == 200
        assert again.content == b""


async def test_revoke_with_form_authentication(client: AtlasClient) -> None:
    client_id, secret, token = await owner_token(client)
    form = {"token": token, "client_id": client_id, "client_secret": secret}
    # The client's own bearer header would be a second client authentication: invalid_request.
    assert (await client.post(REVOKE, data=form)).json()["error"] == "invalid_request"
    response = await client.anonymous().post(REVOKE, data=form)
    assert response.status_code == 200
    assert (await client.get(GROUPS)).status_code == 401


async def test_revoke_an_expired_token(client: AtlasClient, clock: FrozenClock) -> None:
    client_id, secret, token = await owner_token(client)
    clock.advance(hours=2)
    assert (await client.post(REVOKE, data={"token": token}, headers=basic(client_id, secret))).status_code == 200


async def test_cannot_revoke_another_clients_token(client: AtlasClient) -> None:
    """Another client's live token is left alone, and the answer is the one garbage gets: the endpoint does not
    tell which strings are live tokens."""
    _client_id, _secret, token = await owner_token(client)
    stranger = client.anonymous()
    await stranger.create_org("other")
    assert stranger.credentials is not None
    auth = basic(stranger.credentials.client_id, stranger.credentials.client_secret)
    live = await stranger.post(REVOKE, data={"token": token}, headers=auth)
    garbage = await stranger.post(REVOKE, data={"token": token[:-8] + "AAAAAAAA"}, headers=auth)
    unknown = await stranger.post(REVOKE, data={"token": "not a token"}, headers=auth)
    for response in (live, garbage, unknown):
        assert response.status_code == 200
        assert response.content == b""
    # The same headers, each response's own request id aside.
    headers = [{k: v for k, v in r.headers.items() if k != "x-request-id"} for r in (live, garbage, unknown)]
    assert headers[0] == headers[1] == headers[2]
    assert (await client.get(GROUPS)).status_code == 200


async def test_revoke_errors(client: AtlasClient) -> None:
    client_id, secret, token = await owner_token(client)
    missing = await client.post(REVOKE, data={}, headers=basic(client_id, secret))
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    unauthenticated = await client.post(REVOKE, data={"token": token}, headers={"Authorization": ""})
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"] == "invalid_client"
    wrong = await client.post(REVOKE, data={"token": token}, headers=basic(client_id, secret + "x"))
    assert wrong.status_code == 401
    assert (await client.get(GROUPS)).status_code == 200


async def test_introspection(client: AtlasClient, clock: FrozenClock) -> None:
    client_id, secret, token = await owner_token(client)
    auth = basic(client_id, secret)
    response = await client.post(INTROSPECT, data={"token": token}, headers=auth)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert body == {
        "active": True,
        "aud": "api://admin",
        "client_id": client_id,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": "http://127.0.0.1:8080",
        "jti": claims["jti"],
        "sub": client_id,
        "token_type": "Bearer",
    }
    for junk in ("junk", "", token[:-3] + "AAA"):
        assert (await client.post(INTROSPECT, data={"token": junk}, headers=auth)).json() == {"active": False}
    clock.advance(hours=1)
    assert (await client.post(INTROSPECT, data={"token": token}, headers=auth)).json() == {"active": False}


async def test_introspection_is_limited_to_the_callers_org(client: AtlasClient) -> None:
    _client_id, _secret, token = await owner_token(client)
    assert client.credentials is not None
    org_id = client.credentials.org_id
    colleague = await client.add_account(org_id, ["ORG_MEMBER"])
    same_org = await client.post(
        INTROSPECT, data={"token": token}, headers=basic(colleague.client_id, colleague.client_secret)
    )
    assert same_org.json()["active"] is True
    stranger = await client.bootstrap("other")
    other_org = await client.post(
        INTROSPECT, data={"token": token}, headers=basic(stranger.client_id, stranger.client_secret)
    )
    assert other_org.json() == {"active": False}
    anonymous = await client.post(INTROSPECT, data={"token": token}, headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def test_introspection_after_revocation(client: AtlasClient) -> None:
    client_id, secret, token = await owner_token(client)
    auth = basic(client_id, secret)
    await client.post(REVOKE, data={"token": token}, headers=auth)
    assert (await client.post(INTROSPECT, data={"token": token}, headers=auth)).json() == {"active": False}


async def test_metadata(client: AtlasClient) -> None:
    response = await client.get("/.well-known/oauth-authorization-server", headers={"Accept": "*/*"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    issuer = "http://127.0.0.1:8080"
    assert response.json() == {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/api/oauth/token",
        "jwks_uri": f"{issuer}/api/oauth/jwks",
        "revocation_endpoint": f"{issuer}/api/oauth/revoke",
        "introspection_endpoint": f"{issuer}/api/oauth/introspect",
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }


async def test_metadata_of_an_issuer_with_a_trailing_slash(
    settings: Settings, clock: FrozenClock, db: Database
) -> None:
    app = create_app(settings.model_copy(update={"issuer": "https://atlas.example.com/"}), clock=clock, database=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://atlas.test") as client:
        body = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert body["issuer"] == "https://atlas.example.com/"
    assert body["token_endpoint"] == "https://atlas.example.com/api/oauth/token"
    assert body["jwks_uri"] == "https://atlas.example.com/api/oauth/jwks"


async def jwks(client: AtlasClient) -> list[dict[str, Any]]:
    response = await client.get("/api/oauth/jwks")
    assert response.status_code == 200
    keys: list[dict[str, Any]] = response.json()["keys"]
    return keys


async def test_jwks_verifies_tokens(client: AtlasClient) -> None:
    # Published before any token exists, so a resource server never caches an empty set.
    [first] = await jwks(client)
    assert first["kty"] == "EC"
    assert first["crv"] == "P-256"
    assert first["alg"] == "ES256"
    assert first["use"] == "sig"
    assert "d" not in first, "never publish the private part"
    _client_id, _secret, token = await owner_token(client)
    key = jwt.PyJWK.from_dict(first)
    assert jwt.get_unverified_header(token)["kid"] == first["kid"]
    claims = jwt.decode(
        token,
        key,
        algorithms=["ES256"],
        audience="api://admin",
        issuer="http://127.0.0.1:8080",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["jti"]


async def test_rotation(client: AtlasClient, clock: FrozenClock, db: Database) -> None:
    client_id, secret, old_token = await owner_token(client)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    async with db.unit_of_work() as session:
        await rotate(SigningKeyRepository(session), client.state.keys, clock.now())
    new_token = await client.token_for(client_id, secret)
    new_kid = jwt.get_unverified_header(new_token)["kid"]
    assert new_kid != old_kid
    assert {k["kid"] for k in await jwks(client)} == {old_kid, new_kid}
    # The old key still verifies its tokens until they expire.
    assert (await client.get(GROUPS, headers=bearer(old_token))).status_code == 200
    assert (await client.get(GROUPS, headers=bearer(new_token))).status_code == 200
    clock.advance(minutes=59)
    assert (await client.get(GROUPS, headers=bearer(old_token))).status_code == 200
    clock.advance(minutes=1)
    assert (await client.get(GROUPS, headers=bearer(old_token))).status_code == 401
    assert [k["kid"] for k in await jwks(client)] == [new_kid]
    async with db.unit_of_work(write=False) as session:
        retired = (await session.execute(select(SigningKey).where(SigningKey.kid == old_kid))).scalar_one()
    assert retired.retired_at is not None
