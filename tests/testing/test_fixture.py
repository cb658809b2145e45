"""``atlas_sa.testing`` used the way a user's suite uses it: a project of its own, run by pytest in another process,
which finds the ``atlas_sa`` fixture through the installed plugin, and the context manager on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest

from atlas_sa.kit.tls import LOOPBACK_HOSTS, dev_certificates
from atlas_sa.testing import ServerFailed, atlas_sa_server
from tests.support.client import accept

EXAMPLE = Path(__file__).parents[2] / "examples" / "seed.toml"

USER_TESTS = """
import httpx
import pytest

from atlas_sa.testing import AtlasSA, atlas_sa_server

V1 = {"Accept": "application/vnd.atlas.2023-01-01+json"}


def test_the_session_server(atlas_sa: AtlasSA) -> None:
    assert atlas_sa.base_url.startswith("https://127.0.0.1:")
    assert atlas_sa.ca_file is not None and atlas_sa.ca_file.is_file()
    # Verification on, against the development CA only.
    with httpx.Client(base_url=atlas_sa.base_url, verify=atlas_sa.ssl_context(), headers=V1) as client:
        owner = {"Authorization": f"Bearer {atlas_sa.token('ci-owner')}"}
        org = client.get(f"/api/atlas/v2/orgs/{atlas_sa.org_id}", headers=owner)
        assert org.json()["name"] == "ci"
        reader = {"Authorization": f"Bearer {atlas_sa.token('ci-reader')}"}
        assert client.get(f"/api/atlas/v2/groups/{atlas_sa.group_id}", headers=reader).status_code == 200
        key = atlas_sa.api_keys[0]
        digest = httpx.DigestAuth(key.public_key, key.private_key)
        assert client.get(f"/api/atlas/v2/orgs/{key.org_id}", auth=digest).status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{atlas_sa.base_url}/healthz")


def test_a_server_of_its_own() -> None:
    with atlas_sa_server() as server:
        account = server.account()
        granted = httpx.post(
            f"{server.base_url}/api/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(account.client_id, account.client_secret),
        )
        assert granted.status_code == 200
        assert account.roles == ("ORG_OWNER",)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/healthz")
"""


def test_a_users_suite(tmp_path: Path) -> None:
    # What pytest's plugin autoloading reads: so wherever atlas-sa is installed, the fixture is there.
    [plugin] = [point for point in entry_points(group="pytest11") if point.value.startswith("atlas_sa")]
    assert plugin.value == "atlas_sa.testing.plugin"
    shutil.copy(EXAMPLE, tmp_path / "seed.toml")
    (tmp_path / "pytest.ini").write_text("[pytest]\natlas_sa_seed = seed.toml\natlas_sa_https = true\n")
    (tmp_path / "test_with_atlas_sa.py").write_text(USER_TESTS)
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("PYTEST_", "CI"))}
    # The plugin named, and no other loaded: autoloading this environment's others (schemathesis, hypothesis…)
    # would cost seconds and test nothing of ours.
    environment["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", plugin.value, "-W", "error"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_the_context_manager_on_postgresql(own_postgres: str) -> None:
    with atlas_sa_server(EXAMPLE, database_url=own_postgres) as server:
        assert server.database_url == own_postgres
        token = server.token("ci-reader")
        group = httpx.get(
            f"{server.base_url}/api/atlas/v2/groups/{server.group_id}",
            headers={**accept("2023-01-01"), "Authorization": f"Bearer {token}"},
        )
        assert group.status_code == 200, group.text
        log = server.log_file
        assert "seed" in log.read_text()
    assert not log.exists(), "its files are removed"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/healthz")


def test_its_repr_names_no_secret_and_a_failed_start_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A failing assertion or --showlocals prints the fixture's repr into CI logs: secrets stay out of it.
    with atlas_sa_server(EXAMPLE) as server:
        shown = repr(server)
        assert server.account("ci-owner").client_id in shown
        for secret in [a.client_secret for a in server.service_accounts] + [k.private_key for k in server.api_keys]:
            assert secret
            assert secret not in shown
    bad = tmp_path / "seed.toml"
    bad.write_text("orgs = 5\n")
    # Its folders made in one of the test's own: other processes' do not count.
    (temporary := tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    with pytest.raises(ServerFailed, match=r"exited with code 2:\n.*orgs: must be a list"):
        atlas_sa_server(bad).__enter__()
    assert list(temporary.iterdir()) == [], "its temporary folder is removed"


def test_a_server_it_cannot_verify_is_reported_with_the_reason(tmp_path: Path) -> None:
    # HTTPS with a CA the fixture was not given: verification stays on, and the failure says why, not only "did not
    # answer /healthz" after the timeout.
    certs = dev_certificates(tmp_path / "pki", LOOPBACK_HOSTS)
    env = {"ATLAS_SA_TLS_CERT": str(certs.cert), "ATLAS_SA_TLS_KEY": str(certs.key)}
    with pytest.raises(ServerFailed, match=r"did not answer /healthz .*certificate verify failed"):
        atlas_sa_server(EXAMPLE, env=env, timeout=15).__enter__()
