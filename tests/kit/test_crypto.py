"""Server keys: derivation, constant-time secret checks, sealed storage, the development key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from atlas_sa.kit.crypto import KeyError_, MissingKeyFile, ServerKeys, key_file_path, load_or_create_key_file
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
    path = key_file_path(Settings(database_url=url))
    assert path == tmp_path / "dev.db.key"
    with pytest.raises(MissingKeyFile):
        ServerKeys.from_settings(Settings(database_url=url))  # made only when asked (the CLI checks the database)
    first = ServerKeys.from_settings(Settings(database_url=url), create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ServerKeys.from_settings(Settings(database_url=url))
    assert first == again, "a restart must keep the key it generated"
    assert first.check_value == again.check_value != ServerKeys.from_master("x" * 32).check_value
    assert load_or_create_key_file(path) == path.read_text().strip()
    assert [p.name for p in tmp_path.iterdir()] == ["dev.db.key"], "no draft left behind"


def test_the_key_file_never_depends_on_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # A relative SQLite path: the key is beside the file, named absolutely.
    assert key_file_path(Settings(database_url="sqlite:///./atlas-sa.db")) == tmp_path / "atlas-sa.db.key"
    postgres = "postgresql+psycopg://u@h/db"
    with pytest.raises(KeyError_, match=r"ATLAS_SA_SECRET_KEY .*ATLAS_SA_DATA_DIR"):
        key_file_path(Settings(database_url=postgres))
    data = tmp_path / "data"
    assert key_file_path(Settings(database_url=postgres, data_dir=data)) == data / "atlas-sa.key"
    # In memory there is no file at all: the key lives as long as the database.
    memory = ServerKeys.from_settings(Settings(database_url="sqlite://"))
    assert memory != ServerKeys.from_settings(Settings(database_url="sqlite://"))
    assert list(tmp_path.iterdir()) == []


def test_production_requires_key() -> None:
    with pytest.raises(ValueError, match="ATLAS_SA_SECRET_KEY"):
        Settings(profile="production")
