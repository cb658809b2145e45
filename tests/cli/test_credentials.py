"""``atlas-sa bootstrap`` and ``atlas-sa keys rotate`` as a user runs them, against a live server."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt

from tests.cli.test_main import run
from tests.support.client import accept
from tests.support.server import ATLAS_SA, live_server

KEYS = {"orgId", "groupId", "clientId", "clientSecret", "secretExpiresAt", "publicKey", "privateKey", "database"}


def test_bootstrap_json_credentials_work(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'boot.db'}"
    result = run("bootstrap", "--database-url", url, "--json", "--org-name", "Acme (prod)")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, "exactly one JSON object"
    made = json.loads(lines[0])
    assert set(made) == KEYS
    assert re.fullmatch(r"mdb_sa_id_[a-f0-9]{24}", made["clientId"])
    assert re.fullmatch(r"mdb_sa_sk_[A-Za-z0-9_-]{40}", made["clientSecret"])
    assert re.fullmatch(r"[a-z]{8}", made["publicKey"])
    assert re.fullmatch(r"[0-9a-f-]{36}", made["privateKey"])
    assert made["database"] == url
    expires = datetime.strptime(made["secretExpiresAt"], "%Y-%m-%dT%H:%M:%S%z")
    assert abs(expires - datetime.now(UTC) - timedelta(hours=8760)) < timedelta(minutes=5)

    with live_server(url) as server:
        headers = {
            **accept("2023-01-01"),
            "Authorization": f"Bearer {server.token(made['clientId'], made['clientSecret'])}",
        }
        org = httpx.get(f"{server.base_url}/api/atlas/v2/orgs/{made['orgId']}", headers=headers)
        assert org.status_code == 200
        assert org.json()["name"] == "Acme (prod)"
        project = httpx.get(f"{server.base_url}/api/atlas/v2/groups/{made['groupId']}", headers=headers)
        assert project.status_code == 200
        assert project.json()["orgId"] == made["orgId"]
        # The API key authenticates with HTTP Digest.
        digest = httpx.get(
            f"{server.base_url}/api/atlas/v2/orgs/{made['orgId']}",
            headers=accept("2023-01-01"),
            auth=httpx.DigestAuth(made["publicKey"], made["privateKey"]),
        )
        assert digest.status_code == 200, digest.text


def test_bootstrap_human_output(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'human.db'}"
    result = run("bootstrap", "--database-url", url)
    assert result.returncode == 0, result.stderr
    assert "clientSecret  mdb_sa_sk_" in result.stdout
    assert "curl -s -u 'mdb_sa_id_" in result.stdout
    assert "/api/oauth/token" in result.stdout
    # Nothing was there: bootstrap says it made a database of its own, which a server elsewhere does not use.
    assert f"in a new, empty database {url}, created just now (a server using another database" in result.stdout
    assert re.search(r"expires       20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ", result.stdout)


def test_a_second_bootstrap_of_the_same_name_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    first = json.loads(run("bootstrap", "--database-url", url, "--json").stdout)
    again = run("bootstrap", "--database-url", url, "--json")
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr == (
        f'atlas-sa: error: database {url} already has an organization named "atlas-sa" (orgId {first["orgId"]}): '
        "choose another --org-name, or add --force for a second one of that name\n"
    )
    # Another name, or --force, makes another organization with distinct credentials, in the same database.
    assert f"in the database {url}." in run("bootstrap", "--database-url", url, "--org-name", "human").stdout
    other = json.loads(run("bootstrap", "--database-url", url, "--json", "--org-name", "other").stdout)
    forced = json.loads(run("bootstrap", "--database-url", url, "--json", "--force").stdout)
    assert len({first["orgId"], other["orgId"], forced["orgId"]}) == 3
    assert first["database"] == other["database"] == forced["database"] == url
    assert forced["clientId"] != first["clientId"]


def test_bootstrap_shell_lines_set_the_credentials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shell.db'}"
    script = f'eval "$({ATLAS_SA} bootstrap --shell --database-url {url})"; printf "%s\\n" "$ORG_ID" "$CLIENT_ID" '
    script += '"$CLIENT_SECRET" "$PUBLIC_KEY" "$PRIVATE_KEY"'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=True)
    org_id, client_id, secret, public_key, private_key = result.stdout.split()
    assert client_id.startswith("mdb_sa_id_")
    assert secret.startswith("mdb_sa_sk_")
    # What was set goes to the terminal, the secrets themselves only into the shell.
    assert f"(orgId {org_id}) in a new, empty database {url}, created just now" in result.stderr
    assert "secret expires 20" in result.stderr
    assert secret not in result.stderr
    assert private_key not in result.stderr
    with live_server(url) as server:
        assert server.token(client_id, secret)
        digest = httpx.get(
            f"{server.base_url}/api/atlas/v2/orgs/{org_id}",
            headers=accept("2023-01-01"),
            auth=httpx.DigestAuth(public_key, private_key),
        )
        assert digest.status_code == 200, digest.text


def test_bootstrap_refuses_a_bad_name(tmp_path: Path) -> None:
    result = run("bootstrap", "--database-url", f"sqlite:///{tmp_path / 'x.db'}", "--org-name", "<script>")
    assert result.returncode == 2
    assert result.stderr.startswith("atlas-sa: error: invalid organization name")
    assert "Traceback" not in result.stderr


def test_keys_rotate_keeps_old_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rotate.db'}"
    made = json.loads(run("bootstrap", "--database-url", url, "--json").stdout)
    with live_server(url) as server:
        old = server.token(made["clientId"], made["clientSecret"])
        rotated = run("keys", "rotate", "--database-url", url)
        assert rotated.returncode == 0, rotated.stderr
        new = server.token(made["clientId"], made["clientSecret"])
        old_kid, new_kid = jwt.get_unverified_header(old)["kid"], jwt.get_unverified_header(new)["kid"]
        assert old_kid != new_kid
        assert f"new signing key {new_kid}" in rotated.stdout
        kids = {k["kid"] for k in httpx.get(f"{server.base_url}/api/oauth/jwks").json()["keys"]}
        assert kids == {old_kid, new_kid}
        for access_token in (old, new):
            response = httpx.get(
                f"{server.base_url}/api/atlas/v2/orgs",
                headers={**accept("2023-01-01"), "Authorization": f"Bearer {access_token}"},
            )
            assert response.status_code == 200


def test_serve_creates_the_first_signing_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    with live_server(f"sqlite:///{path}"), closing(sqlite3.connect(path)) as db:
        # Before any token or JWKS request: the key exists, its private half sealed.
        [(kid, sealed)] = db.execute("SELECT kid, private_key_encrypted FROM signing_keys").fetchall()
        assert b"PRIVATE KEY" not in sealed
    with live_server(f"sqlite:///{path}") as server:
        assert [k["kid"] for k in httpx.get(f"{server.base_url}/api/oauth/jwks").json()["keys"]] == [kid]
