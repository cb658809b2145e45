"""The container image, built from the repository's Dockerfile and used as an operator would: scripts/container-smoke
run as a real process. It builds the image with no registry and no network, waits for the image's health check,
bootstraps inside the container, exchanges a token and reads the service account over HTTP, on SQLite in the /data
volume and on PostgreSQL with the production profile. It needs root (a private dockerd): a local run without it
skips, CI never does."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import create_postgres_database, drop_postgres_database, postgres_available

pytestmark = [pytest.mark.slow, pytest.mark.container]

SMOKE = Path(__file__).resolve().parents[2] / "scripts" / "container-smoke"
CANNOT_HAVE_DOCKER = 77  # the script's status when this machine cannot run its daemon (not root, no apt-get)
# A safety net, not a measure: a new machine installs docker.io and builds the base image first (~4 min when busy).
TIMEOUT_SECONDS = 20 * 60


@pytest.fixture
def postgres_database() -> Iterator[str | None]:
    """An empty database for the container, or ``None`` where PostgreSQL is unreachable (CI fails before that)."""
    if postgres_available() is not None:
        yield None
        return
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


def run_smoke(env: dict[str, str]) -> tuple[int, str]:
    # A session of its own: on a timeout the script gets SIGTERM, and its trap stops its daemon before it goes.
    with subprocess.Popen(
        [str(SMOKE)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=120)
            pytest.fail(f"scripts/container-smoke did not finish in {TIMEOUT_SECONDS} s:\n{output}")
        return proc.returncode, output


def test_image_serves_tokens_and_service_accounts(postgres_database: str | None) -> None:
    env = dict(os.environ)
    if postgres_database:
        env["ATLAS_SA_SMOKE_POSTGRES_URL"] = postgres_database
    status, output = run_smoke(env)
    print(output)  # its phases and timings, for `pytest -rP`
    if status == CANNOT_HAVE_DOCKER and not os.environ.get("CI"):
        pytest.skip(f"no docker here (CI runs it): {output.strip().splitlines()[-1]}")
    assert status == 0, output
    assert "container smoke test passed" in output, output
    assert "SQLite in /data: served as uid 10001" in output, output
    if postgres_database:
        assert "PostgreSQL, production profile: token and service account" in output, output
