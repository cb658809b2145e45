"""``atlas-sa seed apply``, ``atlas-sa reset [--seed]`` and ``atlas-sa serve --seed`` as a user runs them, with the
repository's example seed (``examples/seed.toml``), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from atlas_sa.kit.db import parse_database_url, sync_url
from atlas_sa.models import Base
from tests.cli.test_main import run
from tests.support.client import accept
from tests.support.server import live_server

EXAMPLE = Path(__file__).parents[2] / "examples" / "seed.toml"
SEEDED = tomllib.loads(EXAMPLE.read_text())
ORG = SEEDED["orgs"][0]
OWNER, READER = ORG["serviceAccounts"]
API_KEY = ORG["apiKeys"][0]
CREATED = {
    "organizations": 1,
    "projects": 1,
    "serviceAccounts": 2,
    "secrets": 2,
    "projectAssignments": 1,
    "accessListEntries": 2,
    "apiKeys": 1,
}
KEY = {"ATLAS_SA_SECRET_KEY": "seed-test-master-key-0123456789"}
PRODUCTION = {**KEY, "ATLAS_SA_PROFILE": "production"}

Rows = dict[str, list[tuple[Any, ...]]]


def dump(url: str) -> Rows:
    """Every row of every table but the change log (what commits changed, for running servers: not state)."""
    engine = create_engine(sync_url(parse_database_url(url)))
    try:
        with engine.connect() as connection:
            return {
                table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
                for table in Base.metadata.sorted_tables
                if table.name != "change_log"
            }
    finally:
        engine.dispose()


@pytest.fixture
def url(own_database: str) -> str:
    return own_database


def edited(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text()
    assert old in text
    path = tmp_path / "edited.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_apply_twice_reset_and_reseed(url: str, tmp_path: Path) -> None:
    first = run("seed", "apply", str(EXAMPLE), "--database-url", url, "--json", env=KEY)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"database": url, "seed": str(EXAMPLE), "created": CREATED}
    seeded = dump(url)
    assert [row[1] for row in seeded["service_accounts"]] == [OWNER["clientId"], READER["clientId"]]
    # Stored as any secret is: a keyed hash and the last four characters, never the value.
    for account in (OWNER, READER):
        assert account["secrets"][0]["secret"] not in repr(seeded)
    assert API_KEY["privateKey"] not in repr(seeded)
    assert sorted(row[2] for row in seeded["events"]) == sorted(
        ["ORG_CREATED", "GROUP_CREATED", "API_KEY_CREATED", "SERVICE_ACCOUNT_ADDED_TO_GROUP"]
        + ["SERVICE_ACCOUNT_CREATED", "SERVICE_ACCOUNT_SECRET_ADDED", "SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED"] * 2
    )
    assert {row[7] for row in seeded["events"]} == {"atlas-sa-cli"}, "the command line's events"

    again = run("seed", "apply", str(EXAMPLE), "--database-url", url, env=KEY)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"applied to {url}; seed {EXAMPLE}: already applied, nothing changed\n"
    assert dump(url) == seeded, "no row added or changed, no event"

    bad = edited(tmp_path, f'secret = "{READER["secrets"][0]["secret"]}"', 'secret = "sk_not_atlas"')
    refused = run("seed", "apply", str(bad), "--database-url", url, env=KEY)
    assert refused.returncode == 2
    assert refused.stderr == (
        f"atlas-sa: error: {bad}: orgs[0].serviceAccounts[1].secrets[0].secret: must start with mdb_sa_sk_ "
        "(Atlas's form of a client secret)\n"
    )
    other = edited(tmp_path, 'roles = ["ORG_MEMBER"]', 'roles = ["ORG_READ_ONLY"]')
    conflict = run("seed", "apply", str(other), "--database-url", url, env=KEY)
    assert conflict.returncode == 1
    assert conflict.stderr == (
        f"atlas-sa: error: {other}: orgs[0].serviceAccounts[1].roles: the database holds this entry with the roles "
        "['ORG_MEMBER'], the seed says ['ORG_READ_ONLY']; nothing was written "
        "(atlas-sa reset --seed FILE starts over)\n"
    )
    assert dump(url) == seeded, "a bad file or a conflict changes nothing"

    emptied = run("reset", "--database-url", url, env=KEY)
    assert emptied.returncode == 0, emptied.stderr
    assert emptied.stdout == f"emptied {url}\n"
    assert {name for name, rows in dump(url).items() if rows} == {"master_key_check"}

    reseeded = run("reset", "--seed", str(EXAMPLE), "--database-url", url, "--json", env=KEY)
    assert reseeded.returncode == 0, reseeded.stderr
    assert json.loads(reseeded.stdout)["created"] == CREATED
    after = dump(url)
    assert {name: len(rows) for name, rows in after.items()} == {name: len(rows) for name, rows in seeded.items()}
    # The same accounts (their creation times aside).
    assert [row[:7] for row in after["service_accounts"]] == [row[:7] for row in seeded["service_accounts"]]


def test_serve_seed_twice(url: str) -> None:
    with live_server(url, args=["--seed", str(EXAMPLE)], env=KEY) as server:
        said = server.log()
    assert f"seed {EXAMPLE}: created 1 organization, 1 project, 2 service accounts, 2 secrets" in said
    seeded = dump(url)
    # The setting, this time, rather than the option.
    with live_server(url, env={**KEY, "ATLAS_SA_SEED": str(EXAMPLE)}) as server:
        assert dump(url) == seeded, "a second start changes nothing"
        with httpx.Client(base_url=server.base_url, headers=accept("2023-01-01")) as client:
            for account, path in ((OWNER, f"/orgs/{ORG['id']}"), (READER, f"/groups/{ORG['projects'][0]['id']}")):
                granted = client.post(
                    "/api/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(account["clientId"], account["secrets"][0]["secret"]),
                )
                assert granted.status_code == 200, granted.text
                bearer = {"Authorization": f"Bearer {granted.json()['access_token']}"}
                assert client.get(f"/api/atlas/v2{path}", headers=bearer).status_code == 200
            digest = httpx.DigestAuth(API_KEY["publicKey"], API_KEY["privateKey"])
            assert client.get(f"/api/atlas/v2/orgs/{ORG['id']}/settings", auth=digest).json() == ORG["settings"]
            # Reset under a running server: it drops what it cached once the reset's commit reaches it (a notification
            # on PostgreSQL, the change log it polls on SQLite), so the reader's token, cached by the read above, dies
            # with its row, though the reseeded account has the same client id and secret.
            assert run("reset", "--seed", str(EXAMPLE), "--database-url", url, env=KEY).returncode == 0
            deadline = time.monotonic() + 2
            while (status := client.get(f"/api/atlas/v2{path}", headers=bearer).status_code) == 200:
                assert time.monotonic() < deadline, "the cached token outlived the reset by 2 s"
                time.sleep(0.05)
            assert status == 401
        assert f"seed {EXAMPLE}: already applied, nothing changed" in server.log()


def test_production_refuses_fixed_credentials_unless_allowed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    why = (
        f"atlas-sa: error: {EXAMPLE}: orgs[0].serviceAccounts[0].secrets[0]: the production profile refuses fixed "
        "credentials, which whoever reads the seed knows; set ATLAS_SA_ALLOW_FIXED_CREDENTIALS=true if this server "
        "is a CI stand-in\n"
    )
    for command in (["seed", "apply", str(EXAMPLE)], ["serve", "--port", "0", "--seed", str(EXAMPLE)]):
        refused = run(*command, "--database-url", url, env=PRODUCTION)
        assert (refused.returncode, refused.stderr) == (2, why)
    assert not (tmp_path / "prod.db").exists(), "refused before the database is made"
    reset = run("reset", "--database-url", url, env=PRODUCTION)
    assert (reset.returncode, reset.stderr) == (
        2,
        "atlas-sa: error: reset deletes everything: under the production profile it needs --force\n",
    )
    allowed = {**PRODUCTION, "ATLAS_SA_ALLOW_FIXED_CREDENTIALS": "true"}
    applied = run("seed", "apply", str(EXAMPLE), "--database-url", url, "--json", env=allowed)
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["created"] == CREATED


def test_every_bad_entry_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[orgs]]\nid = "6b10048a866c13e3a21b3e5F"\nname = "ci"\ncolour = "red"\n'
        '[[orgs.serviceAccounts]]\nclientId = "mdb_sa_id_6b10048a866c13e3a21b3e61"\nname = "a"\n'
        'roles = ["GROUP_OWNER"]\n'
        '[[orgs.serviceAccounts.secrets]]\nsecret = "mdb_sa_sk_tooshort"\nexpiresAt = 2030-01-01T00:00:00\n'
        '[[orgs.serviceAccounts.accessList]]\ncidrBlock = "10.0.0.1"\n'
        '[[orgs.apiKeys]]\npublicKey = "ABCDEFGH"\nprivateKey = "not-a-uuid"\nroles = []\n'
    )
    result = run("seed", "apply", str(bad), "--database-url", f"sqlite:///{tmp_path / 'bad.db'}")
    assert result.returncode == 2
    assert [line.removeprefix(f"atlas-sa: error: {bad}: ") for line in result.stderr.splitlines()] == [
        "orgs[0].id: must be 24 lowercase hexadecimal digits (an ObjectId)",
        "orgs[0].serviceAccounts[0].roles[0]: 'GROUP_OWNER' is not one of ORG_MEMBER, ORG_READ_ONLY, "
        "ORG_BILLING_ADMIN, ORG_BILLING_READ_ONLY, ORG_STREAM_PROCESSING_ADMIN, ORG_GROUP_CREATOR, ORG_OWNER",
        "orgs[0].serviceAccounts[0].secrets[0].secret: must be mdb_sa_sk_ and 40 letters, digits, - or _ "
        "(this has 8 characters after the prefix)",
        "orgs[0].serviceAccounts[0].secrets[0].expiresAt: must carry a time zone (Z or +hh:mm)",
        "orgs[0].serviceAccounts[0].accessList[0].cidrBlock: must be a CIDR block, like 10.0.0.0/8",
        "orgs[0].apiKeys[0].publicKey: must be 8 lowercase letters (Atlas's API public keys)",
        "orgs[0].apiKeys[0].privateKey: must be a lowercase UUID (Atlas's API private keys)",
        "orgs[0].apiKeys[0].roles: must hold at least 1 entry",
        "orgs[0].colour: is not a field of this entry",
    ]
    assert not (tmp_path / "bad.db").exists()


def test_reset_of_a_missing_sqlite_file_makes_nothing(tmp_path: Path) -> None:
    # A mistyped path "emptied" a new database (and made a master key beside it); the operator's commands refuse
    # it too. With --seed, a new file is what the user asks for: the seeded database.
    missing = tmp_path / "typo.db"
    refused = run("reset", "--database-url", f"sqlite:///{missing}", env=KEY)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == f"atlas-sa: error: no database at sqlite:///{missing} (atlas-sa db upgrade makes one)\n"
    assert list(tmp_path.iterdir()) == []
    seeded = run("reset", "--seed", str(EXAMPLE), "--database-url", f"sqlite:///{missing}", "--json", env=KEY)
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout)["created"] == CREATED
