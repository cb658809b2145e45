"""Server key material: one master secret (``ATLAS_SA_SECRET_KEY``) from which every purpose key derives.

- the secret-hash key: client secrets are stored only as HMAC-SHA256(hash key, secret), compared in constant time;
- the encryption key: what must be recoverable (API private keys for Digest, token-signing private keys) is
  sealed with AES-256-GCM.

In development, when no key is set, one is generated once and kept in a file (mode 0600), so restarts keep
verifying the secrets they issued: beside a SQLite file (``<db>.key``), or in ``ATLAS_SA_DATA_DIR`` for PostgreSQL,
never in the current directory (two processes started from two folders would each make their own). An in-memory
SQLite database gets a key that lives as long as it does. The production profile refuses to start without one.

Every key also has a check value, an HMAC of a fixed label under a key derived for that purpose alone: the database
records it with its first sealed row, so a process holding another key can be refused before it seals anything
(:mod:`atlas_sa.auth.masterkey`). It reveals nothing about the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from atlas_sa.kit.db import is_memory_sqlite, parse_database_url
from atlas_sa.settings import Settings

_NONCE_BYTES = 12
_CHECK_LABEL = b"atlas-sa master key check v1"


class KeyError_(RuntimeError):  # noqa: N801 - KeyError is a builtin; this names our key-material failures
    """Key material is missing or unusable; the message is one line, fit for a CLI error."""


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"atlas-sa/" + purpose).derive(master)


@dataclass(frozen=True)
class ServerKeys:
    hash_key: bytes
    encryption_key: bytes
    # Identifies the master key (see the module's docstring); safe to store and to compare.
    check_value: str
    # Where the master key came from, for error messages: never the key itself.
    source: str = field(default="ATLAS_SA_SECRET_KEY", compare=False)

    @classmethod
    def from_master(cls, master: str | bytes, *, source: str = "ATLAS_SA_SECRET_KEY") -> ServerKeys:
        raw = master.encode() if isinstance(master, str) else master
        if len(raw) < 16:
            raise KeyError_(f"{source} must hold at least 16 characters")
        check = hmac.new(_derive(raw, b"key-check/v1"), _CHECK_LABEL, hashlib.sha256).hexdigest()
        return cls(_derive(raw, b"secret-hash/v1"), _derive(raw, b"encryption/v1"), check, source)

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = False) -> ServerKeys:
        """The configured key, or the development key file's; ``create`` makes the file when it is missing (only
        for a database that holds nothing sealed yet: the caller checks)."""
        if settings.secret_key is not None:
            return cls.from_master(settings.secret_key.get_secret_value())
        if settings.profile == "production":
            raise KeyError_("ATLAS_SA_SECRET_KEY is required with the production profile")
        if is_memory_sqlite(parse_database_url(settings.database_url)):
            # The database dies with the process; so may its key.
            return cls.from_master(secrets.token_bytes(32), source="a key made for this in-memory database")
        path = key_file_path(settings)
        source = f"the development key file {path}"
        if create:
            return cls.from_master(load_or_create_key_file(path), source=source)
        try:
            return cls.from_master(path.read_text().strip(), source=source)
        except FileNotFoundError:
            raise MissingKeyFile(path) from None

    def hash_secret(self, secret: str) -> str:
        return hmac.new(self.hash_key, secret.encode(), hashlib.sha256).hexdigest()

    def verify_secret(self, secret: str, stored_hash: str) -> bool:
        return hmac.compare_digest(self.hash_secret(secret), stored_hash)

    def encrypt(self, plaintext: bytes, *, context: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self.encryption_key).encrypt(nonce, plaintext, context)

    def decrypt(self, sealed: bytes, *, context: bytes = b"") -> bytes:
        return AESGCM(self.encryption_key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context)


def check_key_settings(settings: Settings) -> None:
    """Refuse, before anything touches the database, settings that can give no usable master key."""
    if settings.secret_key is not None:
        ServerKeys.from_master(settings.secret_key.get_secret_value())
    elif settings.profile == "production":
        raise KeyError_("ATLAS_SA_SECRET_KEY is required with the production profile")
    elif not is_memory_sqlite(parse_database_url(settings.database_url)):
        key_file_path(settings)


class MissingKeyFile(KeyError_):
    """No master key is set and the development key file does not exist (yet)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"the development key file {path} does not exist")
        self.path = path


def key_file_path(settings: Settings) -> Path:
    """Where the development key lives: beside the SQLite file (made absolute, so the same database always finds the
    same key), or in ``ATLAS_SA_DATA_DIR``; never in the current directory."""
    url = parse_database_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not is_memory_sqlite(url):
        return Path(f"{url.database}.key").absolute()
    if settings.data_dir is not None:
        return (settings.data_dir / "atlas-sa.key").absolute()
    raise KeyError_(
        "a PostgreSQL database needs its master key: set ATLAS_SA_SECRET_KEY (the same on every instance), or, "
        "in development, ATLAS_SA_DATA_DIR to a private folder where one is generated and kept"
    )


def load_or_create_key_file(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    # Written whole under a temporary name, then linked into place: link() fails when the name exists, so two
    # processes starting together agree on the first key, and neither can read a half-written file.
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            return path.read_text().strip()
    except OSError as exc:
        raise KeyError_(f"cannot create the development key file {path}: {exc.strerror}") from exc
    finally:
        draft.unlink(missing_ok=True)
    return key
