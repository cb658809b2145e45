"""Fixtures of the tests that run real server processes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.server import ATLAS_SA, LiveServer, Served, bootstrap, live_server


@pytest.fixture
def shared_postgres(own_postgres: str) -> str:
    """A fresh PostgreSQL database of the test's own, migrated (``atlas-sa db upgrade``), for server processes to
    share."""
    subprocess.run(
        [ATLAS_SA, "db", "upgrade", "--database-url", own_postgres],
        check=True,
        capture_output=True,
        env=dict(os.environ),
    )
    return own_postgres


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """The environment of a module's servers; a module that uses ``served`` or ``server`` defines its own."""
    raise NotImplementedError("define server_env in the test module")


@pytest.fixture(scope="module")
def served(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Served:
    """One bootstrapped database for a module's servers (bootstrapping takes a second or two)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('served') / 'atlas-sa.db'}"
    return Served(url, bootstrap(url, server_env), server_env)


@pytest.fixture
def server(served: Served) -> Iterator[LiveServer]:
    """A server of its own over the module's database, for one test."""
    with live_server(served.url, env=served.env) as live:
        yield live
