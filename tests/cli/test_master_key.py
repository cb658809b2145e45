"""One master key per database (issue #11, item 10), as users meet it: real processes, real folders, both databases.

Before the check existed, a second process started from another folder made its own development key, sealed a new
signing key with it, and the first server answered every token request with a 500 until someone rotated the key from
the right folder. Now the database records its key's check value; every other key is refused at start with one line
that names the fix, and no process makes a second key for a database that holds anything made with the first.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from pathlib import Path

from alembic import command as alembic

from atlas_sa.auth.repository import SigningKeyRepository
from atlas_sa.auth.signing import new_signing_key
from atlas_sa.kit.clock import SystemClock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.db import Database
from atlas_sa.migrations import alembic_config, upgrade
from atlas_sa.onboarding.bootstrap import bootstrap
from tests.cli.test_main import run
from tests.support.server import LiveServer, live_server

KEY_A = "first-master-key-0123456789abcdef"
KEY_B = "second-master-key-0123456789abcdef"
MISMATCH = (
    "it belongs to another master key than {source}: start with the key it was first used with "
    "(ATLAS_SA_SECRET_KEY, or the development key file made with it), or use --database-url for another database"
)


def mints(server: LiveServer, made: dict[str, str]) -> int:
    return server.mint(made["clientId"], made["clientSecret"]).status_code


def refused(result: object, database: str, why: str) -> None:
    """One line on stderr, naming the database and the fix; a non-zero exit; nothing on stdout."""
    assert getattr(result, "returncode", 0) == 1, result
    assert getattr(result, "stdout", None) == ""
    assert getattr(result, "stderr", None) == f"atlas-sa: error: cannot use database {database}: {why}\n"


def test_two_folders_on_sqlite_with_a_relative_path(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    relative = "sqlite:///./atlas-sa.db"
    with live_server(relative, cwd=first) as server:
        made = json.loads(run("bootstrap", "--json", cwd=first).stdout)
        assert made["database"] == f"sqlite:///{first / 'atlas-sa.db'}"
        assert mints(server, made) == 200
        # From another folder: asking creates nothing; bootstrap makes (and says it makes) another database, with
        # its own key beside it, and the first server is untouched.
        assert run("db", "current", cwd=second).returncode == 1
        assert list(second.iterdir()) == []
        other = json.loads(run("bootstrap", "--json", cwd=second).stdout)
        assert other["database"] == f"sqlite:///{second / 'atlas-sa.db'}"
        assert sorted(p.name for p in second.iterdir()) == ["atlas-sa.db", "atlas-sa.db.key"]
        # The first database reached from the second folder is opened with the first folder's key.
        rotated = run("keys", "rotate", "--database-url", "sqlite:///../first/atlas-sa.db", cwd=second)
        assert rotated.returncode == 0, rotated.stderr
        assert mints(server, made) == 200
    assert sorted(p.name for p in first.iterdir()) == ["atlas-sa.db", "atlas-sa.db.key"]


def test_two_folders_on_postgresql(own_postgres: str, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    # Without a key or a data directory nothing starts, and no key file lands in the current directory.
    bare = run("serve", "--database-url", own_postgres, cwd=first)
    assert bare.returncode == 2
    assert bare.stderr == (
        "atlas-sa: error: a PostgreSQL database needs its master key: set ATLAS_SA_SECRET_KEY (the same on every "
        "instance), or, in development, ATLAS_SA_DATA_DIR to a private folder where one is generated and kept\n"
    )
    assert list(first.iterdir()) == []
    relative = run("serve", "--database-url", own_postgres, env={"ATLAS_SA_DATA_DIR": "data"}, cwd=first)
    assert relative.returncode == 2
    assert relative.stderr == "atlas-sa: error: ATLAS_SA_DATA_DIR: must be an absolute path\n"
    here = {"ATLAS_SA_DATA_DIR": str(first / "data")}
    (first / "data").mkdir()
    with live_server(own_postgres, env=here, cwd=first) as server:
        made = json.loads(run("bootstrap", "--database-url", own_postgres, "--json", env=here, cwd=first).stdout)
        assert mints(server, made) == 200
        there = {"ATLAS_SA_DATA_DIR": str(second)}
        why = (
            f"it holds credentials made with a master key, but the development key file {second / 'atlas-sa.key'} "
            "is missing: restore the file, or set ATLAS_SA_SECRET_KEY to the key the database was first used with"
        )
        for command in (["db", "current"], ["keys", "rotate"], ["bootstrap", "--org-name", "two"], ["serve"]):
            result = run(*command, "--database-url", own_postgres, env=there, cwd=second)
            if command[0] == "db":
                assert result.returncode == 0, result.stderr  # reads the schema; never touches keys
            else:
                refused(result, own_postgres, why)
            assert list(second.iterdir()) == [], "no second key for a database that holds sealed material"
        assert mints(server, made) == 200
    assert sorted(p.name for p in (first / "data").iterdir()) == ["atlas-sa.key"]


def test_two_keys_one_database(own_database: str, tmp_path: Path) -> None:
    url = own_database
    a, b = {"ATLAS_SA_SECRET_KEY": KEY_A}, {"ATLAS_SA_SECRET_KEY": KEY_B}
    with live_server(url, env=a) as server:
        made = json.loads(run("bootstrap", "--database-url", url, "--json", env=a).stdout)
        assert mints(server, made) == 200
        for command in (["keys", "rotate"], ["bootstrap", "--org-name", "two"], ["serve", "--port", "0"]):
            refused(run(*command, "--database-url", url, env=b), url, MISMATCH.format(source="ATLAS_SA_SECRET_KEY"))
        assert mints(server, made) == 200
    # A development key file that is not the database's is refused the same way, and named.
    if url.startswith("sqlite"):
        key_file = tmp_path / "own.db.key"
        key_file.write_text(KEY_B + "\n")
        refused(
            run("serve", "--database-url", url),
            url,
            MISMATCH.format(source=f"the development key file {key_file}"),
        )


def seal_as_before_the_check(url: str, api_key_master: str, signing_key_master: str) -> None:
    """A database as an earlier atlas-sa left it: schema 0003, no check value, an organization with an API key, and
    an active signing key, each sealed with the given master key. Today's code writes the rows (its bootstrap records
    events too), then the schema goes back to 0003, dropping what later revisions added."""
    upgrade(url)

    async def fill() -> None:
        db = Database(url)
        try:
            async with db.unit_of_work() as session:
                await bootstrap(session, ServerKeys.from_master(api_key_master), SystemClock(), org_name="old")
                signing = new_signing_key(ServerKeys.from_master(signing_key_master), SystemClock().now())
                await SigningKeyRepository(session).add(signing)
        finally:
            await db.dispose()

    asyncio.run(fill())
    alembic.downgrade(alembic_config(url), "0003")


def test_an_older_database_is_claimed_by_the_key_that_opens_it(own_database: str) -> None:
    url = own_database
    seal_as_before_the_check(url, KEY_A, KEY_A)
    # Another key cannot unseal what is there: an error at start (it used to be a 500 on every token request).
    refused(
        run("serve", "--database-url", url, env={"ATLAS_SA_SECRET_KEY": KEY_B}),
        url,
        MISMATCH.format(source="ATLAS_SA_SECRET_KEY"),
    )
    a = {"ATLAS_SA_SECRET_KEY": KEY_A}
    with live_server(url, env=a) as server:
        made = json.loads(run("bootstrap", "--database-url", url, "--json", env=a).stdout)
        assert mints(server, made) == 200
    # The key that opened everything is now the database's.
    refused(
        run("keys", "rotate", "--database-url", url, env={"ATLAS_SA_SECRET_KEY": KEY_B}),
        url,
        MISMATCH.format(source="ATLAS_SA_SECRET_KEY"),
    )


def test_a_split_older_database_is_mended_by_rotating(tmp_path: Path) -> None:
    # What the sequence left behind: API keys sealed with the first key, the active signing key with the
    # second. The first key is told to rotate, which replaces the signing key; then everything works again.
    url = f"sqlite:///{tmp_path / 'split.db'}"
    seal_as_before_the_check(url, KEY_A, KEY_B)
    a = {"ATLAS_SA_SECRET_KEY": KEY_A}
    refused(
        run("serve", "--database-url", url, env=a),
        url,
        "its token-signing key was sealed with another master key than ATLAS_SA_SECRET_KEY, which opens everything "
        "else: run `atlas-sa keys rotate` with this key to replace it, or start with the other key",
    )
    # The second key opens no API key: refused outright, rotation included.
    b = {"ATLAS_SA_SECRET_KEY": KEY_B}
    refused(run("keys", "rotate", "--database-url", url, env=b), url, MISMATCH.format(source="ATLAS_SA_SECRET_KEY"))
    assert run("keys", "rotate", "--database-url", url, env=a).returncode == 0
    with live_server(url, env=a) as server:
        made = json.loads(run("bootstrap", "--database-url", url, "--json", env=a).stdout)
        assert mints(server, made) == 200


def test_a_lost_key_file_is_never_replaced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lost.db'}"
    made = json.loads(run("bootstrap", "--database-url", url, "--json").stdout)
    key_file = tmp_path / "lost.db.key"
    key = key_file.read_text()
    key_file.unlink()
    why = (
        f"it holds credentials made with a master key, but the development key file {key_file} is missing: restore "
        "the file, or set ATLAS_SA_SECRET_KEY to the key the database was first used with"
    )
    for command in (["serve"], ["bootstrap", "--org-name", "two"], ["keys", "rotate"]):
        refused(run(*command, "--database-url", url), url, why)
        assert not key_file.exists()
    key_file.write_text(key)
    with live_server(url) as server:
        assert mints(server, made) == 200


def test_the_check_value_is_recorded_with_the_first_sealed_row_and_reveals_no_key(tmp_path: Path) -> None:
    path = tmp_path / "check.db"
    url = f"sqlite:///{path}"
    assert run("db", "upgrade", "--database-url", url).returncode == 0
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT count(*) FROM master_key_check").fetchone() == (0,)
    run("bootstrap", "--database-url", url, "--json", env={"ATLAS_SA_SECRET_KEY": KEY_A})
    with closing(sqlite3.connect(path)) as db:
        [(value,)] = db.execute("SELECT check_value FROM master_key_check").fetchall()
    keys = ServerKeys.from_master(KEY_A)
    assert value == keys.check_value
    assert KEY_A not in value
    assert value not in (keys.hash_key.hex(), keys.encryption_key.hex())
