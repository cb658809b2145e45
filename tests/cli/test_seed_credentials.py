"""Credentials a seed fixes without holding them: ``secretEnv`` and ``privateKeyEnv`` name environment variables, and
an API key's id is fixed as an account's client id is. They work through real HTTP (an OAuth token for the secret,
HTTP Digest for the API key), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx

from atlas_sa.testing import atlas_sa_server
from tests.cli.test_main import run
from tests.cli.test_seed import KEY, PRODUCTION, dump
from tests.support.client import accept
from tests.support.server import live_server

ORG_ID = "6b10048a866c13e3a21b3e5f"
CLIENT_ID = "mdb_sa_id_6b10048a866c13e3a21b3e61"
KEY_ID = "6b10048a866c13e3a21b3e63"
VARIABLES = {
    "CI_OWNER_SECRET": "mdb_sa_sk_" + "Q-7_" * 10,
    "CI_API_PRIVATE_KEY": "5d1c7a52-0b7e-4c4b-9f57-2f3b1e0d9a41",
}
SEED = (
    f'[[orgs]]\nid = "{ORG_ID}"\nname = "ci"\n'
    f'[[orgs.serviceAccounts]]\nclientId = "{CLIENT_ID}"\nname = "ci-owner"\nroles = ["ORG_OWNER"]\n'
    '[[orgs.serviceAccounts.secrets]]\nsecretEnv = "CI_OWNER_SECRET"\n'
    f'[[orgs.apiKeys]]\nid = "{KEY_ID}"\npublicKey = "ciowners"\nprivateKeyEnv = "CI_API_PRIVATE_KEY"\n'
    'roles = ["ORG_OWNER"]\n'
)


def test_credentials_from_the_environment_work_over_http(own_database: str, tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text(SEED)
    with live_server(own_database, args=["--seed", str(seed)], env={**KEY, **VARIABLES}) as server:
        with httpx.Client(base_url=server.base_url, headers=accept("2023-01-01")) as client:
            granted = client.post(
                "/api/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(CLIENT_ID, VARIABLES["CI_OWNER_SECRET"]),
            )
            assert granted.status_code == 200, granted.text
            bearer = {"Authorization": f"Bearer {granted.json()['access_token']}"}
            assert client.get(f"/api/atlas/v2/orgs/{ORG_ID}", headers=bearer).json()["id"] == ORG_ID
            digest = httpx.DigestAuth("ciowners", VARIABLES["CI_API_PRIVATE_KEY"])
            assert client.get(f"/api/atlas/v2/orgs/{ORG_ID}", auth=digest).status_code == 200
            wrong = httpx.DigestAuth("ciowners", "5d1c7a52-0b7e-4c4b-9f57-2f3b1e0d9a40")
            assert client.get(f"/api/atlas/v2/orgs/{ORG_ID}", auth=wrong).status_code == 401
        said = server.log()  # the server stops here
    assert f"seed {seed}: created 1 organization, 1 service account, 1 secret, 1 API key" in said
    seeded = dump(own_database)
    assert [row[:2] for row in seeded["api_keys"]] == [(KEY_ID, ORG_ID)], "the seed's id, not a new one"
    assert not any(value in repr(seeded) for value in VARIABLES.values()), "stored hashed and sealed"

    again = run("seed", "apply", str(seed), "--database-url", own_database, env={**KEY, **VARIABLES})
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith("already applied, nothing changed\n")
    other = {**VARIABLES, "CI_API_PRIVATE_KEY": "5d1c7a52-0b7e-4c4b-9f57-2f3b1e0d9a40"}
    refused = run("seed", "apply", str(seed), "--database-url", own_database, env={**KEY, **other})
    assert (refused.returncode, refused.stderr) == (
        1,
        f"atlas-sa: error: {seed}: orgs[0].apiKeys[0].privateKeyEnv: the database holds this public key with another "
        "private key; nothing was written (atlas-sa reset --seed FILE starts over)\n",
    )
    moved = tmp_path / "moved.toml"
    moved.write_text(SEED.replace(KEY_ID, "6b10048a866c13e3a21b3e64"))
    refused = run("seed", "apply", str(moved), "--database-url", own_database, env={**KEY, **VARIABLES})
    assert (refused.returncode, refused.stderr) == (
        1,
        f"atlas-sa: error: {moved}: orgs[0].apiKeys[0].id: the database holds this entry with the id "
        f"'{KEY_ID}', the seed says '6b10048a866c13e3a21b3e64'; nothing was written "
        "(atlas-sa reset --seed FILE starts over)\n",
    )
    assert dump(own_database) == seeded


def test_production_refuses_credentials_from_the_environment_too(tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text(SEED)
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    refused = run("seed", "apply", str(seed), "--database-url", url, env={**PRODUCTION, **VARIABLES})
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        f"atlas-sa: error: {seed}: orgs[0].serviceAccounts[0].secrets[0]: the production profile refuses fixed "
        "credentials"
    )
    keys_only = tmp_path / "keys.toml"
    keys_only.write_text(
        SEED.split("[[orgs.serviceAccounts]]", maxsplit=1)[0] + "[[orgs.apiKeys]]" + SEED.split("[[orgs.apiKeys]]")[1]
    )
    refused = run("seed", "apply", str(keys_only), "--database-url", url, env={**PRODUCTION, **VARIABLES})
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"atlas-sa: error: {keys_only}: orgs[0].apiKeys[0]: the production profile")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["keys.toml", "seed.toml"]


def test_the_testing_fixture_hands_over_credentials_from_the_environment(tmp_path: Path) -> None:
    # It read only literal ones: the account's secret was the text "None", the API key's private key too.
    seed = tmp_path / "seed.toml"
    seed.write_text(SEED)
    with atlas_sa_server(seed, env=VARIABLES) as atlas:
        key = atlas.api_keys[0]
        assert (atlas.account("ci-owner").client_secret, key.private_key) == tuple(VARIABLES.values())
        bearer = {"Authorization": f"Bearer {atlas.token('ci-owner')}", **accept("2023-01-01")}
        assert httpx.get(f"{atlas.base_url}/api/atlas/v2/orgs/{ORG_ID}", headers=bearer).status_code == 200
        digest = httpx.DigestAuth(key.public_key, key.private_key)
        answer = httpx.get(f"{atlas.base_url}/api/atlas/v2/orgs/{ORG_ID}", auth=digest, headers=accept("2023-01-01"))
        assert answer.status_code == 200
