"""Server keys: derivation, constant-time secret checks, sealed storage, the development key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from atlas_sa.kit.crypto import KeyError_, ServerKeys, default_key_path, load_or_create_key_file
from atlas_sa.settings import Settings


def test_hash_is_keyed_and_verifies() -> None:
    keys = ServerKeys.from_master("a" * 32)
    other = ServerKeys.from_master("b" * 32)
    digest = keys.hash_secret("mdb_sa_sk_example")
    assert digest != other.hash_secret("mdb_sa_sk_example")
    assert "example" not in digest
    assert keys.verify_secret("mdb_sa_sk_example", digest)
    assert not keys.verify_secret("mdb_sa_sk_examplf", digest)
    assert keys.hash_key != keys.encryption_key


def test_seal_round_trip_and_tamper() -> None:
    keys = ServerKeys.from_master("c" * 32)
    sealed = keys.encrypt(b"private", context=b"api-key")
    assert b"private" not in sealed
    assert keys.decrypt(sealed, context=b"api-key") == b"private"
    with pytest.raises(InvalidTag):
        keys.decrypt(sealed, context=b"other")
    with pytest.raises(InvalidTag):
        keys.decrypt(sealed[:-1] + bytes([sealed[-1] ^ 1]), context=b"api-key")


def test_short_master_refused() -> None:
    with pytest.raises(KeyError_):
        ServerKeys.from_master("short")


def test_development_key_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dev.db'}"
    path = default_key_path(url)
    assert path == tmp_path / "dev.db.key"
    first = ServerKeys.from_settings(Settings(database_url=url))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ServerKeys.from_settings(Settings(database_url=url))
    assert first == again, "a restart must keep the key it generated"
    assert load_or_create_key_file(path) == path.read_text().strip()


def test_production_requires_key() -> None:
    with pytest.raises(ValueError, match="ATLAS_SA_SECRET_KEY"):
        Settings(profile="production")
