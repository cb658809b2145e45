"""Bearer authentication on ``/api/atlas/v2``: what a valid token is, and every way a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import delete, select

from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.models import AccessToken, ServiceAccount, ServiceAccountSecret, SigningKey
from tests.support.client import AtlasClient

GROUPS = "/api/atlas/v2/groups"
UNAUTHORIZED = {
    "detail": "You are not authorized for this resource.",
    "error": 401,
    "errorCode": "UNAUTHORIZED",
    "parameters": [],
    "reason": "Unauthorized",
}


# The order of P-256's base point (SEC 2 §2.4.2): ECDSA accepts ``(r, n - s)`` wherever it accepts ``(r, s)``.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_signature(r: int, s: int) -> str:
    """JOSE's ``r || s`` (RFC 7518 §3.4) with the low ``s``, the only one the server accepts, base64url."""
    return b64(r.to_bytes(32, "big") + min(s, P256_ORDER - s).to_bytes(32, "big"))


def es256(claims: dict[str, Any], key: ec.EllipticCurvePrivateKey, headers: dict[str, Any]) -> str:
    """A JWT signed by ``key`` as the server signs: ES256 with the low ``s``, so that a refusal is about the claims,
    header or key under test, never about the signature's spelling."""
    head = jwt.encode(claims, key, algorithm="ES256", headers=headers).rpartition(".")[0]
    r, s = decode_dss_signature(key.sign(head.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{raw_signature(r, s)}"


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


async def signing_key(client: AtlasClient, db: Database) -> tuple[str, ec.EllipticCurvePrivateKey]:
    async with db.unit_of_work(write=False) as session:
        row = (await session.execute(select(SigningKey).where(SigningKey.retired_at.is_(None)))).scalar_one()
    pem = client.state.keys.decrypt(row.private_key_encrypted, context=b"signing-key")
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return row.kid, key


async def call(client: AtlasClient, token: str) -> Any:
    return await client.get(GROUPS, headers={"Authorization": f"Bearer {token}"})


def assert_invalid_token(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == UNAUTHORIZED
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.headers["x-error-code"] == "UNAUTHORIZED"


async def test_no_credentials_gets_a_digest_challenge(client: AtlasClient) -> None:
    await client.create_org()
    anonymous = client.anonymous()
    for headers in ({}, {"Authorization": "Basic Zm9vOmJhcg=="}, {"Authorization": "Negotiate abc"}):
        response = await anonymous.get(GROUPS, headers=headers)
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        assert response.headers["www-authenticate"].startswith('Digest realm="MMS Public API"')


async def test_401_comes_before_404_and_400_but_after_406(client: AtlasClient) -> None:
    anonymous = client.anonymous()
    assert (await anonymous.get(f"{GROUPS}/{'1' * 24}")).status_code == 401
    assert (await anonymous.get(f"{GROUPS}/not-an-id")).status_code == 401
    assert (await anonymous.post(GROUPS, json={"nonsense": True})).status_code == 401
    refused = await anonymous.get(GROUPS, headers={"Accept": "application/json"})
    assert refused.status_code == 406
    assert refused.json()["errorCode"] == "INVALID_VERSION_DATE"


async def test_valid_token_then_expired(client: AtlasClient, clock: FrozenClock) -> None:
    await client.create_org()
    token = client.headers["Authorization"].removeprefix("Bearer ")
    clock.advance(seconds=3599)
    assert (await call(client, token)).status_code == 200
    clock.advance(seconds=1)
    assert_invalid_token(await call(client, token))


@pytest.mark.parametrize(
    "token", [b"", b"abc", b"a.b.c", b"e30.e30.", b"x" * 5000, b"Bearer", "ä.ö.ü".encode("latin-1"), b"\xff\xfe"]
)
async def test_garbage_tokens(client: AtlasClient, token: bytes) -> None:
    await client.create_org()
    response = await client.get(GROUPS, headers={b"Authorization": b"Bearer " + token})
    assert_invalid_token(response)


async def test_alg_none_is_refused(client: AtlasClient) -> None:
    await client.create_org()
    header, claims = parts(client.headers["Authorization"].removeprefix("Bearer "))
    forged = f"{b64(json.dumps({**header, 'alg': 'none'}).encode())}.{b64(json.dumps(claims).encode())}."
    assert_invalid_token(await call(client, forged))
    forged_lower = f"{b64(json.dumps({**header, 'alg': 'None'}).encode())}.{b64(json.dumps(claims).encode())}."
    assert_invalid_token(await call(client, forged_lower))


async def test_hs256_signed_with_the_public_key_is_refused(client: AtlasClient, db: Database) -> None:
    await client.create_org()
    header, claims = parts(client.headers["Authorization"].removeprefix("Bearer "))
    _kid, key = await signing_key(client, db)
    for public in (
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        json.dumps((await client.get("/api/oauth/jwks")).json()["keys"][0]).encode(),
    ):
        signing_input = f"{b64(json.dumps({**header, 'alg': 'HS256'}).encode())}.{b64(json.dumps(claims).encode())}"
        signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
        assert_invalid_token(await call(client, f"{signing_input}.{b64(signature)}"))


async def test_tampered_token_is_refused(client: AtlasClient) -> None:
    org_id = await client.create_org()
    other = await client.as_service_account(org_id, ["ORG_MEMBER"])
    mine = client.headers["Authorization"].removeprefix("Bearer ")
    _header, their_claims = parts(other.headers["Authorization"].removeprefix("Bearer "))
    head, payload, signature = mine.split(".")
    _h, claims = parts(mine)
    # Another account's identity under my signature; and a single flipped bit in my own signature.
    assert_invalid_token(
        await call(client, f"{head}.{b64(json.dumps({**claims, 'sub': their_claims['sub']}).encode())}.{signature}")
    )
    flipped = bytearray(base64.urlsafe_b64decode(signature + "=="))
    flipped[5] ^= 1
    assert_invalid_token(await call(client, f"{head}.{payload}.{b64(bytes(flipped))}"))
    assert (await call(client, mine)).status_code == 200


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({}, True),
        ({"aud": "api://other"}, False),
        ({"aud": ["api://admin", "x"]}, True),
        ({"iss": "https://cloud.mongodb.com"}, False),
        ({"exp": "later"}, False),
        ({"iat": 1_900_000_000}, False),
        ({"nbf": 1_900_000_000}, False),
        ({"exp": 1_900_000_000}, False),
        ({"cid": "mdb_sa_id_" + "0" * 24}, False),
        ({"sid": "0" * 24}, False),
        ({"jti": "00000000-0000-4000-8000-000000000000"}, False),
        ({"sub": None}, False),
    ],
)
async def test_claims_are_checked(client: AtlasClient, db: Database, change: dict[str, Any], valid: bool) -> None:
    await client.create_org()
    _header, claims = parts(client.headers["Authorization"].removeprefix("Bearer "))
    kid, key = await signing_key(client, db)
    claims = {k: v for k, v in {**claims, **change}.items() if v is not None}
    token = es256(claims, key, {"kid": kid})
    response = await call(client, token)
    if valid:
        assert response.status_code == 200, response.text
    else:
        assert_invalid_token(response)


async def test_unknown_kid_and_foreign_key(client: AtlasClient) -> None:
    await client.create_org()
    header, claims = parts(client.headers["Authorization"].removeprefix("Bearer "))
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert_invalid_token(await call(client, es256(claims, stranger, {"kid": "nope"})))
    assert_invalid_token(await call(client, es256(claims, stranger, {"kid": header["kid"]})))


async def test_revoked_row_fails_on_next_request(client: AtlasClient, db: Database) -> None:
    await client.create_org()
    assert (await client.get(GROUPS)).status_code == 200
    async with db.unit_of_work() as session:
        await session.execute(delete(AccessToken))
    assert_invalid_token(await client.get(GROUPS))


async def test_deleting_the_secret_revokes_its_tokens(client: AtlasClient, db: Database) -> None:
    await client.create_org()
    assert (await client.get(GROUPS)).status_code == 200
    async with db.unit_of_work() as session:
        await session.execute(delete(ServiceAccountSecret))
    assert_invalid_token(await client.get(GROUPS))


async def test_deleted_account_fails_on_next_request(client: AtlasClient, db: Database) -> None:
    org_id = await client.create_org()
    doomed = await client.as_service_account(org_id, ["ORG_OWNER"])
    assert (await doomed.get(GROUPS)).status_code == 200
    assert doomed.account is not None
    async with db.unit_of_work() as session:
        await session.execute(delete(ServiceAccount).where(ServiceAccount.client_id == doomed.account.client_id))
    assert_invalid_token(await doomed.get(GROUPS))
    assert (await client.get(GROUPS)).status_code == 200


async def test_roles_are_read_per_request(client: AtlasClient, db: Database) -> None:
    org_id = await client.create_org()
    member = await client.as_service_account(org_id, ["ORG_MEMBER"])
    assert (await member.post(GROUPS, json={"name": "p", "orgId": org_id})).status_code == 401
    assert member.account is not None
    async with db.unit_of_work() as session:
        account = (
            await session.execute(select(ServiceAccount).where(ServiceAccount.client_id == member.account.client_id))
        ).scalar_one()
        account.org_roles = ["ORG_GROUP_CREATOR"]
    assert (await member.post(GROUPS, json={"name": "p", "orgId": org_id})).status_code == 200
