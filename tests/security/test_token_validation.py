"""Access-token validation, the cases ``tests/auth/test_bearer.py`` leaves out: algorithm and key confusion beyond
``none`` and HS256, keys smuggled in the header, hostile ``kid`` values, malformed signatures, the expiry boundary
(through the principal cache too), and revocation through the endpoint while the token is cached."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from tests.auth.test_bearer import P256_ORDER, assert_invalid_token, b64, call, es256, parts, raw_signature, signing_key
from tests.support.client import TOKEN_PATH, AtlasClient, basic


def bearer(client: AtlasClient) -> str:
    return str(client.headers["Authorization"]).removeprefix("Bearer ")


@pytest.mark.parametrize("algorithm", ["ES384", "ES512", "RS256", "PS256", "EdDSA"])
async def test_other_algorithms_are_refused(client: AtlasClient, algorithm: str) -> None:
    await client.create_org()
    header, claims = parts(bearer(client))
    key: Any
    if algorithm.startswith(("RS", "PS")):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "EdDSA":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: PLC0415

        key = Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key(ec.SECP384R1() if algorithm == "ES384" else ec.SECP521R1())
    assert_invalid_token(
        await call(client, jwt.encode(claims, key, algorithm=algorithm, headers={"kid": header["kid"]}))
    )


async def test_es256_header_with_our_key_but_another_alg_name(client: AtlasClient, db: Database) -> None:
    """The right key and signature, with the header's ``alg`` changed: the signature no longer covers the header."""
    await client.create_org()
    kid, key = await signing_key(client, db)
    _header, claims = parts(bearer(client))
    for alg in ("ES384", "es256", "ES256 ", "RS256"):
        header = {"alg": alg, "kid": kid, "typ": "JWT"}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        assert_invalid_token(await call(client, f"{signing_input}.{raw_signature(r, s)}"))


async def test_keys_in_the_header_are_not_trusted(client: AtlasClient) -> None:
    await client.create_org()
    header, claims = parts(bearer(client))
    attacker = ec.generate_private_key(ec.SECP256R1())
    public = attacker.public_key().public_numbers()

    def coordinate(n: int) -> str:
        return b64(n.to_bytes(32, "big"))

    jwk = {"kty": "EC", "crv": "P-256", "x": coordinate(public.x), "y": coordinate(public.y)}
    for extra in (
        {"jwk": jwk},
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"jwk": jwk, "kid": None},
    ):
        headers = {k: v for k, v in {"kid": header["kid"], **extra}.items() if v is not None}
        assert_invalid_token(await call(client, es256(claims, attacker, headers)))


@pytest.mark.parametrize(
    "kid", ["../../etc/passwd", "' OR '1'='1", "", "x" * 5000, "\u0000", 12345, None, ["a"], {"k": "v"}]
)
async def test_hostile_kid_values(client: AtlasClient, db: Database, kid: Any) -> None:
    await client.create_org()
    _kid, key = await signing_key(client, db)
    _header, claims = parts(bearer(client))
    header = {"alg": "ES256", "typ": "JWT"} | ({} if kid is None else {"kid": kid})
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    token = f"{signing_input}.{raw_signature(r, s)}"
    assert_invalid_token(await call(client, token))


async def test_malformed_signatures(client: AtlasClient) -> None:
    await client.create_org()
    token = bearer(client)
    head, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    for bad in (
        raw[:32] + (P256_ORDER - s).to_bytes(32, "big"),  # (r, n - s): ECDSA accepts it, we issue only the low S
        encode_dss_signature(r, s),  # DER instead of JOSE's raw r || s
        raw[:63],
        raw + b"\x00",
        b"\x00" * 64,  # r = s = 0
        b"",
    ):
        assert_invalid_token(await call(client, f"{head}.{payload}.{b64(bad)}"))
    for shape in (
        f"{head}.{payload}",
        f"{head}.{payload}.{signature}.",
        f"{head}..{signature}",
        f".{payload}.{signature}",
    ):
        assert_invalid_token(await call(client, shape))
    assert (await call(client, token)).status_code == 200


async def test_expiry_boundary_through_the_cache(client: AtlasClient, clock: FrozenClock) -> None:
    await client.create_org()
    token = bearer(client)
    _header, claims = parts(token)
    assert (await call(client, token)).status_code == 200  # now verified, and cached
    clock.advance(seconds=claims["exp"] - claims["iat"] - 1)
    assert (await call(client, token)).status_code == 200, "valid until its last second"
    clock.advance(seconds=1)
    assert_invalid_token(await call(client, token))  # RFC 7519 §4.1.4: not accepted on or after exp


async def test_revocation_reaches_a_cached_token(client: AtlasClient) -> None:
    await client.create_org()
    assert client.credentials is not None
    token = bearer(client)
    assert (await call(client, token)).status_code == 200
    revoked = await client.post(
        "/api/oauth/revoke",
        data={"token": token},
        headers=basic(client.credentials.client_id, client.credentials.client_secret),
    )
    assert revoked.status_code == 200
    assert_invalid_token(await call(client, token))
    fresh = await client.post(
        TOKEN_PATH,
        data={"grant_type": "client_credentials"},
        headers=basic(client.credentials.client_id, client.credentials.client_secret),
    )
    assert (await call(client, fresh.json()["access_token"])).status_code == 200
