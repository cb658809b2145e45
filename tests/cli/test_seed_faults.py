"""A faulty seed changes nothing: what the file alone decides is a file fault (exit code 2) found before the database
is touched, even made; what the database decides is refused (exit code 1) in one transaction; and a failed first
apply takes away the SQLite file it made. On SQLite and PostgreSQL, through ``atlas-sa`` processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from atlas_sa.kit.db import parse_database_url, sync_url
from tests.cli.test_main import run
from tests.cli.test_seed import EXAMPLE, KEY, ORG, READER, dump, edited

ORG_ID = "6b10048a866c13e3a21b3e5f"
SECRETS = ("mdb_sa_sk_" + "a" * 40, "mdb_sa_sk_" + "b" * 40)
PRIVATE_KEY = "04e9998c-d23f-4350-8be9-836bcf872530"
# Only the values of these variables may hold a credential: no message may show one.
VARIABLES = {"SEED_EMPTY": "", "SEED_BAD": "mdb_sa_sk_short", "SEED_NOT_UUID": "04E9998C-D23F-4350-8BE9-836BCF872530"}


def tables(url: str) -> list[str]:
    engine = create_engine(sync_url(parse_database_url(url)))
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def faulty_seed(path: Path) -> Path:
    path.write_text(
        f'[[orgs]]\nid = "{ORG_ID}"\nname = "ci"\n'
        '[[orgs.serviceAccounts]]\nclientId = "mdb_sa_id_6b10048a866c13e3a21b3e61"\nname = "a"\nroles = ["ORG_OWNER"]\n'
        f'[[orgs.serviceAccounts.secrets]]\nsecret = "{SECRETS[0]}"\nexpiresAt = 2020-01-01T00:00:00Z\n'
        f'[[orgs.serviceAccounts.secrets]]\nsecret = "{SECRETS[1]}"\nexpiresAt = 2999-01-01T00:00:00Z\n'
        '[[orgs.serviceAccounts]]\nclientId = "mdb_sa_id_6b10048a866c13e3a21b3e62"\nname = "b"\nroles = ["ORG_OWNER"]\n'
        f'[[orgs.serviceAccounts.secrets]]\nsecret = "{SECRETS[0]}"\nsecretEnv = "SEED_EMPTY"\n'
        "[[orgs.serviceAccounts.secrets]]\nexpiresAfterHours = 24\n"
        '[[orgs.serviceAccounts]]\nclientId = "mdb_sa_id_6b10048a866c13e3a21b3e63"\nname = "c"\nroles = ["ORG_OWNER"]\n'
        f'[[orgs.serviceAccounts.secrets]]\nsecret = "{SECRETS[1]}"\n'
        '[[orgs.serviceAccounts.secrets]]\nsecretEnv = "SEED_BAD"\n'
        '[[orgs.serviceAccounts]]\nclientId = "mdb_sa_id_6b10048a866c13e3a21b3e64"\nname = "d"\nroles = ["ORG_OWNER"]\n'
        '[[orgs.serviceAccounts.secrets]]\nsecretEnv = "SEED_UNSET_VARIABLE"\n'
        '[[orgs.serviceAccounts.secrets]]\nsecretEnv = "SEED_EMPTY"\n'
        f'[[orgs.apiKeys]]\nid = "{ORG_ID}"\npublicKey = "ciowners"\nprivateKeyEnv = "SEED_NOT_UUID"\n'
        'roles = ["ORG_OWNER"]\n'
        f'[[orgs.apiKeys]]\nid = "{ORG_ID}"\npublicKey = "cireader"\nroles = ["ORG_OWNER"]\n'
        f'[[orgs.apiKeys]]\npublicKey = "ciothers"\nprivateKey = "{PRIVATE_KEY}"\nprivateKeyEnv = "SEED_EMPTY"\n'
        'roles = ["ORG_OWNER"]\n'
    )
    return path


def test_every_file_fault_is_named_before_the_database_is_made(own_database: str, tmp_path: Path) -> None:
    # An expiresAt in the past was refused by the database (exit code 1) after the new database was made; the other
    # faults were not checked at all (the fields did not exist, or the database refused them one at a time).
    seed = faulty_seed(tmp_path / "faulty.toml")
    for command in (["seed", "apply"], ["reset", "--seed"]):
        result = run(*command, str(seed), "--database-url", own_database, env={**KEY, **VARIABLES})
        assert result.returncode == 2, result.stderr
        lines = [line.removeprefix(f"atlas-sa: error: {seed}: ") for line in result.stderr.splitlines()]
        assert lines == [
            "orgs[0].serviceAccounts[0].secrets[0].expiresAt: must be at least 8 hours from now (Atlas's minimum); "
            "this is in the past",
            "orgs[0].serviceAccounts[1].secrets[0].secretEnv: the environment variable SEED_EMPTY is empty",
            "orgs[0].serviceAccounts[1].secrets[1]: give secret or secretEnv (one of them)",
            "orgs[0].serviceAccounts[2].secrets[1].secretEnv: the value of the environment variable SEED_BAD must be "
            "mdb_sa_sk_ and 40 letters, digits, - or _ (this has 5 characters after the prefix)",
            "orgs[0].serviceAccounts[3].secrets[0].secretEnv: the environment variable SEED_UNSET_VARIABLE is not set",
            "orgs[0].serviceAccounts[3].secrets[1].secretEnv: the environment variable SEED_EMPTY is empty",
            "orgs[0].apiKeys[0].privateKeyEnv: the value of the environment variable SEED_NOT_UUID must be a "
            "lowercase UUID (Atlas's API private keys)",
            "orgs[0].apiKeys[1]: give privateKey or privateKeyEnv (one of them)",
            "orgs[0].apiKeys[2].privateKeyEnv: the environment variable SEED_EMPTY is empty",
        ]
        assert not any(value in result.stderr for value in VARIABLES.values() if value), "no variable's value shown"
    # With the variables right, what is left is across entries: the same secret for two accounts, one API key id
    # twice, an expiry beyond the organization's maximum (the default 8760 hours of a new one).
    fixed = seed.read_text()
    for old, new in (
        ("expiresAt = 2020-01-01T00:00:00Z\n", ""),
        ('secret = "' + SECRETS[0] + '"\nsecretEnv = "SEED_EMPTY"', 'secretEnv = "SEED_C"'),
        ("[[orgs.serviceAccounts.secrets]]\nexpiresAfterHours = 24\n", ""),
        ('secretEnv = "SEED_BAD"', 'secretEnv = "SEED_A"'),
        ('secretEnv = "SEED_UNSET_VARIABLE"', 'secretEnv = "SEED_D"'),
        ('[[orgs.serviceAccounts.secrets]]\nsecretEnv = "SEED_EMPTY"\n', ""),
        ('privateKeyEnv = "SEED_NOT_UUID"', f'privateKey = "{PRIVATE_KEY}"'),
        ('publicKey = "cireader"\n', f'publicKey = "cireader"\nprivateKey = "{PRIVATE_KEY}"\n'),
        ('privateKey = "' + PRIVATE_KEY + '"\nprivateKeyEnv = "SEED_EMPTY"', 'privateKeyEnv = "SEED_KEY"'),
    ):
        assert old in fixed, old
        fixed = fixed.replace(old, new, 1)
    seed.write_text(fixed)
    variables = {"SEED_A": SECRETS[0], "SEED_C": "mdb_sa_sk_" + "c" * 40, "SEED_D": "mdb_sa_sk_" + "d" * 40}
    result = run(
        "seed", "apply", str(seed), "--database-url", own_database, env={**KEY, **variables, "SEED_KEY": PRIVATE_KEY}
    )
    assert result.returncode == 2, result.stderr
    assert [line.removeprefix(f"atlas-sa: error: {seed}: ") for line in result.stderr.splitlines()] == [
        "orgs[0].apiKeys[1].id: the same API key id as orgs[0].apiKeys[0].id",
        "orgs[0].apiKeys[1].privateKey: the same private key as orgs[0].apiKeys[0].privateKey",
        "orgs[0].apiKeys[2].privateKeyEnv: the same private key as orgs[0].apiKeys[0].privateKey",
        "orgs[0].serviceAccounts[2].secrets[0].secret: the same secret as orgs[0].serviceAccounts[0].secrets[1].secret",
        "orgs[0].serviceAccounts[2].secrets[1].secretEnv: the same secret as "
        "orgs[0].serviceAccounts[0].secrets[0].secret",
        "orgs[0].serviceAccounts[0].secrets[1].expiresAt: must be at most 8760 hours from now "
        "(the organization's maxServiceAccountSecretValidityInHours)",
    ]
    assert not any(value in result.stderr for value in variables.values())
    if own_database.startswith("sqlite"):
        assert list(tmp_path.iterdir()) == [seed], "no database file, no key file"
    else:
        assert tables(own_database) == [], "not even migrated"


def test_a_refused_seed_changes_nothing(own_database: str, tmp_path: Path) -> None:
    """The database's refusal comes after the seed has written (a project, an organization with its account, secret
    and API key): the one transaction takes all of it back."""
    applied = run("seed", "apply", str(EXAMPLE), "--database-url", own_database, env=KEY)
    assert applied.returncode == 0, applied.stderr
    before = dump(own_database)
    text = edited(tmp_path, 'roles = ["ORG_MEMBER"]', 'roles = ["ORG_READ_ONLY"]').read_text()
    # Before the refused entry, in the order the seed is applied: a new project and a new organization.
    text = text.replace(
        '[[orgs.serviceAccounts]]\nclientId = "mdb_sa_id_6b10048a866c13e3a21b3e61"',
        '[[orgs.projects]]\nid = "6b10048a866c13e3a21b3e70"\nname = "new-project"\n\n'
        '[[orgs.serviceAccounts]]\nclientId = "mdb_sa_id_6b10048a866c13e3a21b3e61"',
        1,
    )
    first = (
        '[[orgs]]\nid = "6b10048a866c13e3a21b3e71"\nname = "new-org"\n'
        '[[orgs.serviceAccounts]]\nclientId = "mdb_sa_id_6b10048a866c13e3a21b3e72"\nname = "new"\n'
        'roles = ["ORG_OWNER"]\n'
        f'[[orgs.serviceAccounts.secrets]]\nsecret = "{SECRETS[0]}"\n'
        '[[orgs.apiKeys]]\nid = "6b10048a866c13e3a21b3e73"\npublicKey = "newowner"\n'
        f'privateKey = "{PRIVATE_KEY[:-1]}1"\nroles = ["ORG_OWNER"]\n\n'
    )
    seed = tmp_path / "refused.toml"
    seed.write_text(first + text)
    refused = run("seed", "apply", str(seed), "--database-url", own_database, env=KEY)
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr == (
        f"atlas-sa: error: {seed}: orgs[1].serviceAccounts[1].roles: the database holds this entry with the roles "
        f"{READER['roles']!r}, the seed says ['ORG_READ_ONLY']; nothing was written "
        "(atlas-sa reset --seed FILE starts over)\n"
    )
    assert dump(own_database) == before, "not one row of the seed's, not one event"
    assert ORG["id"] in repr(before)


@pytest.mark.parametrize("command", [["seed", "apply"], ["reset", "--seed"], ["serve", "--port", "0", "--seed"]])
def test_a_failed_first_apply_leaves_no_database_file(tmp_path: Path, command: list[str]) -> None:
    # Its one fault shows only once the database is made: a development key file (made by an earlier run, say) that
    # is too short to use. The new SQLite file was left behind, migrated, for the next run to take as existing.
    database = tmp_path / "new.db"
    key = tmp_path / "new.db.key"
    key.write_text("short\n")
    result = run(*command, str(EXAMPLE), "--database-url", f"sqlite:///{database}")
    assert result.returncode == 1, result.stderr
    assert result.stderr.endswith(f"atlas-sa: error: the development key file {key} must hold at least 16 characters\n")
    assert sorted(tmp_path.iterdir()) == [key], "the key file was there before: it stays; the database goes"


def test_an_expired_secret_is_a_file_fault(own_database: str, tmp_path: Path) -> None:
    # Was: exit code 1, "must be 8 to 8760 hours from now", as if the database had refused, in a new database.
    seed = edited(tmp_path, "expiresAfterHours = 8760\n", "expiresAt = 2021-06-01T00:00:00+02:00\n")
    result = run("seed", "apply", str(seed), "--database-url", own_database, env=KEY)
    assert (result.returncode, result.stderr) == (
        2,
        f"atlas-sa: error: {seed}: orgs[0].serviceAccounts[0].secrets[0].expiresAt: must be at least 8 hours from "
        "now (Atlas's minimum); this is in the past\n",
    )
    if own_database.startswith("sqlite"):
        assert list(tmp_path.iterdir()) == [seed]
    else:
        assert tables(own_database) == []
