"""The operator's commands as a user runs them: real ``atlas-sa`` processes on a database of the test's own, and an
in-process app on the same database to see their work through HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from atlas_sa.app import create_app
from atlas_sa.migrations import upgrade
from atlas_sa.settings import Settings
from tests.support.client import AtlasClient
from tests.support.server import ATLAS_SA

# The processes and the in-process app must share the master key: secrets are hashed with it.
KEY = "cli-operate-master-key-0123456789"


@dataclass(frozen=True)
class Cli:
    url: str

    def __call__(
        self, *args: str, code: int = 0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``atlas-sa ARGS --database-url URL``; fails the test unless it exits with ``code``."""
        done = subprocess.run(
            [ATLAS_SA, *args, "--database-url", self.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "ATLAS_SA_SECRET_KEY": KEY, **(env or {})},
        )
        assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
        if code == 0:
            assert done.stderr == "", done.stderr
        return done

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        """The one JSON document ``atlas-sa ARGS --json`` prints."""
        return json.loads(self(*args, "--json", env=env).stdout)

    def error(self, *args: str, code: int, env: dict[str, str] | None = None) -> str:
        """The one line a refused command prints on stderr, nothing on stdout."""
        done = self(*args, code=code, env=env)
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("atlas-sa: error: ")
        return lines[0].removeprefix("atlas-sa: error: ")


def rows(table: str) -> list[dict[str, str]]:
    """A human table (columns two or more spaces apart, a header line) as one dict per row."""
    header, *lines = table.strip().splitlines()
    names = re.split(r"\s{2,}", header.strip())
    return [dict(zip(names, re.split(r"\s{2,}", line.strip()), strict=True)) for line in lines]


def block(text: str) -> dict[str, str]:
    """A human block of fields (``name  value`` per line) as a dict."""
    return dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.strip().splitlines())  # type: ignore[misc]


@pytest.fixture
def cli(own_database: str) -> Cli:
    upgrade(own_database)
    return Cli(own_database)


@pytest.fixture
async def http(cli: Cli) -> AsyncIterator[AtlasClient]:
    """An HTTP client of an app serving the processes' database, as ``atlas-sa serve`` would."""
    app = create_app(Settings(database_url=cli.url, secret_key=KEY))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with AtlasClient(app=app, transport=transport, base_url="http://atlas.test") as client:
        yield client
    await app.state.atlas.db.dispose()
