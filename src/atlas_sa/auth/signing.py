"""Token-signing keys: ES256 key pairs in the ``signing_keys`` table, the private half sealed with the server key.

Why ES256 and not EdDSA: verification is the hot path (every authenticated request verifies a token; a token is
signed once per ``POST /api/oauth/token``, at most a few a minute per client). Measured with PyJWT 2.15 and
cryptography 50 on the development machine (``jwt.encode`` / ``jwt.decode`` of our claim set, 3 runs of 3000):
ES256 sign 88-114 us, verify 190-276 us; EdDSA (Ed25519) sign 59-92 us, verify 205-302 us; the raw primitives
alone: P-256 sign 34 us / verify 90-99 us, Ed25519 sign 40-48 us / verify 128-138 us (OpenSSL's assembly P-256 beats
its Ed25519 here). Verification is no slower with ES256, and every JWT library and JWKS consumer understands ES256
(RFC 7518 "Recommended+"), while EdDSA (RFC 8037) is still missing from some. Atlas itself signs with ES512.

Keys are generated on first use, cached per process by ``kid`` (decrypting and parsing a PEM costs more than a
verification), and rotated by ``atlas-sa keys rotate``: the old key is retired, stops signing at once (the active key
is read from the database at every mint), and keeps verifying until ``retired_at`` + the token lifetime, when every
token it signed has expired.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from atlas_sa.auth.repository import SigningKeyRepository
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.models import SigningKey

ALGORITHM = "ES256"
TOKEN_LIFETIME = timedelta(seconds=3600)
SEAL_CONTEXT = b"signing-key"


@dataclass(frozen=True, slots=True)
class ActiveKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    public_key: ec.EllipticCurvePublicKey
    retired_at: datetime | None

    def verifies_at(self, now: datetime) -> bool:
        return self.retired_at is None or now < self.retired_at + TOKEN_LIFETIME


def new_signing_key(keys: ServerKeys, now: datetime) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    kid = str(uuid.uuid4())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk: dict[str, Any] = dict(ECAlgorithm.to_jwk(private.public_key(), as_dict=True))
    jwk.update(kid=kid, alg=ALGORITHM, use="sig")
    return SigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        private_key_encrypted=keys.encrypt(pem, context=SEAL_CONTEXT),
        public_jwk=jwk,
        created_at=now,
        retired_at=None,
    )


def publishable(row: SigningKey, now: datetime) -> bool:
    return row.retired_at is None or now < row.retired_at + TOKEN_LIFETIME


class KeyRing:
    """The process's cache of parsed keys; the database stays the source of truth for which key is active. The app's
    is built once by :func:`atlas_sa.auth.core.build_auth_core`; the CLI makes its own."""

    def __init__(self, keys: ServerKeys) -> None:
        self._keys = keys
        self._private: dict[str, ec.EllipticCurvePrivateKey] = {}
        self._public: dict[str, VerificationKey] = {}

    async def signing_key(self, repository: SigningKeyRepository, now: datetime) -> ActiveKey:
        """The active key, generated (and stored in the caller's transaction) when there is none yet."""
        row = await repository.active()
        if row is None:
            row = new_signing_key(self._keys, now)
            await repository.add(row)
        private = self._private.get(row.kid)
        if private is None:
            pem = self._keys.decrypt(row.private_key_encrypted, context=SEAL_CONTEXT)
            loaded = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(loaded, ec.EllipticCurvePrivateKey)
            private = self._private[row.kid] = loaded
        return ActiveKey(row.kid, private)

    async def verification_key(self, repository: SigningKeyRepository, kid: str) -> VerificationKey | None:
        """The public key named ``kid``; an unknown kid costs one primary-key lookup, like the token lookup that
        follows a good signature, so forged kids buy an attacker nothing."""
        cached = self._public.get(kid)
        if cached is not None:
            return cached
        row = await repository.get(kid)
        if row is None or row.algorithm != ALGORITHM:
            return None
        public = ECAlgorithm.from_jwk(row.public_jwk)
        if not isinstance(public, ec.EllipticCurvePublicKey):  # pragma: no cover - we only store public JWKs
            return None
        key = VerificationKey(kid, public, row.retired_at)
        # Cached as read. A key retired later by another process keeps verifying here, which is harmless: it no
        # longer signs (the active key is read at every mint) and each token's own ``exp`` and row still fence it.
        self._public[kid] = key
        return key


async def rotate(repository: SigningKeyRepository, keys: ServerKeys, now: datetime) -> SigningKey:
    """Retire every active key and create a new one (``atlas-sa keys rotate``)."""
    await repository.retire_active(now)
    row = new_signing_key(keys, now)
    await repository.add(row)
    return row
