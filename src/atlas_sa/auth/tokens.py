"""Access tokens: ES256 JWTs with the claims of the decisions table, and the check every bearer request passes.

A token is valid when, in this order: it is spelled exactly as we issue it (:func:`canonical`); its header names
``ES256`` and a ``kid`` we know (an explicit allow-list, so ``alg=none`` and HS256 signed with the public key are
refused before any key is touched); its signature verifies with that key; ``aud`` is ``api://admin`` and ``iss`` is
our issuer; ``iat``/``nbf``/``exp`` hold against the injected clock; and its ``jti`` still has an ``access_tokens``
row belonging to the account it names. The row is what revocation, secret deletion and account deletion remove, so
those take effect on the very next request.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from atlas_sa.auth.repository import CredentialRepository, SigningKeyRepository
from atlas_sa.auth.signing import ALGORITHM, TOKEN_LIFETIME, ActiveKey, KeyRing, VerificationKey
from atlas_sa.models import AccessToken, ServiceAccount

AUDIENCE = "api://admin"
# Our tokens are about 550 bytes; anything far longer is not one of ours and is not worth parsing.
MAX_TOKEN_LENGTH = 4096
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "cid", "actorId", "iat", "exp", "jti", "sid"]
# The order of P-256's base point (SEC 2 §2.4.2). ECDSA accepts ``(r, n - s)`` wherever it accepts ``(r, s)``.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_ORDER = P256_ORDER // 2
# RFC 7515 §7.1's compact serialization with RFC 7515 §2's unpadded base64url, and an ES256 signature of exactly
# 64 bytes (RFC 7518 §3.4): 86 characters, the last of which carries 2 bits and four zero bits (A, Q, g or w).
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{85}[AQgw]")
_SIGNATURE_CHARS = 86


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    token: AccessToken
    account: ServiceAccount
    claims: dict[str, Any]
    key: VerificationKey | None = None


def encode(key: ActiveKey, *, issuer: str, client_id: str, secret_id: str, jti: str, issued_at: datetime) -> str:
    """The signed token (RFC 7515 §7.1 compact serialization, RFC 7518 §3.4 ES256), built by hand rather than by
    PyJWT: its header made once per key, the claims serialised by orjson, the signature taken straight to the
    low-S form :func:`canonical` requires. PyJWT's encoding around the signature (header and claims each through
    ``json`` and its encoder class, a DER-to-raw conversion, then re-decoding the signature for the low-S check)
    cost as much again as the P-256 signature itself (docs/performance.md); verification still uses PyJWT."""
    iat = int(issued_at.timestamp())
    claims = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": client_id,
        "cid": client_id,
        "actorId": client_id,
        "iat": iat,
        "exp": iat + _LIFETIME_SECONDS,
        "jti": jti,
        # The secret that minted the token, so deleting that secret is visibly what revokes it.
        "sid": secret_id,
    }
    signing_input = _header_segment(key.kid) + b"." + _b64(orjson.dumps(claims))
    r, s = decode_dss_signature(key.private_key.sign(signing_input, _ECDSA))
    if s > _HALF_ORDER:
        # ``(r, n - s)`` verifies wherever ``(r, s)`` does; the low one is the only spelling we issue.
        s = P256_ORDER - s
    return (signing_input + b"." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))).decode("ascii")


_ECDSA = ec.ECDSA(hashes.SHA256())
_LIFETIME_SECONDS = int(TOKEN_LIFETIME.total_seconds())


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=16)
def _header_segment(kid: str) -> bytes:
    # As PyJWT writes it (sorted keys, no spaces), so a token reads the same whichever encoder made it.
    return _b64(orjson.dumps({"alg": ALGORITHM, "kid": kid, "typ": "JWT"}, option=orjson.OPT_SORT_KEYS))


def canonical(token: str) -> bool:
    """Whether ``token`` is spelled exactly as we issue tokens: compact, unpadded base64url, a 64-byte signature
    with a low ``s``. The header and payload cannot be respelled (the signature covers them as sent); the
    signature could be, by padding it (PyJWT accepts a trailing ``==``) or by using ``(r, n - s)``. Every cache
    and check is keyed by the token's string or its ``jti``; one spelling per signature keeps the two in step."""
    if not _COMPACT.fullmatch(token):
        return False
    raw = base64.urlsafe_b64decode(token[-_SIGNATURE_CHARS:] + "==")
    return 0 < int.from_bytes(raw[32:], "big") <= _HALF_ORDER


_last_jti_stamp = 0


def new_jti() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, a 12-bit counter that keeps this process's ids strictly
    increasing within a millisecond, 62 random bits. Time-ordered ids order tokens minted within the same second
    (``issued_at`` has second precision), so the 100-token cap revokes the oldest, never the one just minted."""
    global _last_jti_stamp  # noqa: PLW0603 - one monotonic counter per process
    stamp = max((time.time_ns() // 1_000_000) << 12, _last_jti_stamp + 1)
    _last_jti_stamp = stamp
    value = (stamp >> 12) << 80 | 0x7 << 76 | (stamp & 0xFFF) << 64 | 0b10 << 62 | secrets.randbits(62)
    return str(uuid.UUID(int=value))


def _int_claim(claims: dict[str, Any], name: str) -> int | None:
    value = claims.get(name)
    # bool is an int in Python; a JSON true is not a timestamp.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _times_hold(claims: dict[str, Any], now: int) -> bool:
    iat, exp = _int_claim(claims, "iat"), _int_claim(claims, "exp")
    if iat is None or exp is None:
        return False
    if "nbf" in claims:
        nbf = _int_claim(claims, "nbf")
        if nbf is None or nbf > now:
            return False
    return iat <= now < exp and exp - iat <= int(TOKEN_LIFETIME.total_seconds())


async def verify(
    token: str,
    *,
    ring: KeyRing,
    signing_keys: SigningKeyRepository,
    credentials: CredentialRepository,
    issuer: str,
    now: datetime,
    check_times: bool = True,
) -> VerifiedToken | None:
    """The token's row and account when the token is valid now, else ``None`` (never raises on bad input).

    ``check_times=False`` (revocation only) accepts an expired but otherwise genuine token, whose row may remain.
    """
    if len(token) > MAX_TOKEN_LENGTH or not canonical(token):
        return None
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    kid = header.get("kid")
    # isprintable: a NUL byte in a kid would reach PostgreSQL, which refuses it in text (a 500, not a 401).
    if header.get("alg") != ALGORITHM or not isinstance(kid, str) or not kid or len(kid) > 64 or not kid.isprintable():
        return None
    key = await ring.verification_key(signing_keys, kid)
    if key is None or (check_times and not key.verifies_at(now)):
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public_key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=issuer,
            # Time is checked below against the injected clock, not the machine's.
            options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if check_times and not _times_hold(claims, int(now.timestamp())):
        return None
    jti, sub = claims.get("jti"), claims.get("sub")
    if not isinstance(jti, str) or not isinstance(sub, str) or claims.get("cid") != sub or claims.get("actorId") != sub:
        return None
    found = await credentials.token_with_account(jti)
    if found is None:
        return None
    row, account = found
    if account.client_id != sub or row.secret_id != claims.get("sid"):
        return None
    if check_times and row.expires_at <= now:
        return None
    return VerifiedToken(row, account, claims, key)
