"""Server key material: one master secret (``ATLAS_SA_SECRET_KEY``) from which every purpose key derives.

- the secret-hash key: client secrets are stored only as HMAC-SHA256(hash key, secret), compared in constant time;
- the encryption key: what must be recoverable (API private keys for Digest, token-signing private keys) is
  sealed with AES-256-GCM.

In development, when no key is set, one is generated once and kept beside the SQLite file (``<db>.key``, mode
0600), so restarts keep verifying the secrets they issued. The production profile refuses to start without one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from atlas_sa.kit.db import parse_database_url
from atlas_sa.settings import Settings

_NONCE_BYTES = 12


class KeyError_(RuntimeError):  # noqa: N801 - KeyError is a builtin; this names our key-material failures
    """Key material is missing or unusable; the message is one line, fit for a CLI error."""


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"atlas-sa/" + purpose).derive(master)


@dataclass(frozen=True)
class ServerKeys:
    hash_key: bytes
    encryption_key: bytes

    @classmethod
    def from_master(cls, master: str | bytes) -> ServerKeys:
        raw = master.encode() if isinstance(master, str) else master
        if len(raw) < 16:
            raise KeyError_("ATLAS_SA_SECRET_KEY must be at least 16 characters")
        return cls(_derive(raw, b"secret-hash/v1"), _derive(raw, b"encryption/v1"))

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerKeys:
        if settings.secret_key is not None:
            return cls.from_master(settings.secret_key.get_secret_value())
        if settings.profile == "production":
            raise KeyError_("ATLAS_SA_SECRET_KEY is required with the production profile")
        return cls.from_master(load_or_create_key_file(default_key_path(settings.database_url)))

    def hash_secret(self, secret: str) -> str:
        return hmac.new(self.hash_key, secret.encode(), hashlib.sha256).hexdigest()

    def verify_secret(self, secret: str, stored_hash: str) -> bool:
        return hmac.compare_digest(self.hash_secret(secret), stored_hash)

    def encrypt(self, plaintext: bytes, *, context: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self.encryption_key).encrypt(nonce, plaintext, context)

    def decrypt(self, sealed: bytes, *, context: bytes = b"") -> bytes:
        return AESGCM(self.encryption_key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context)


def default_key_path(database_url: str) -> Path:
    url = parse_database_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(f"{url.database}.key")
    return Path("atlas-sa.key")


def load_or_create_key_file(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    try:
        # O_EXCL: two processes starting together agree on the first key written instead of overwriting it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    except OSError as exc:
        raise KeyError_(f"cannot create the development key file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
