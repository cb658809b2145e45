"""Fixtures of the tests that run real server processes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.server import ATLAS_SA


@pytest.fixture
def shared_postgres(postgresql_url: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of its own, for server processes to share."""
    del postgresql_url  # only for its skip (locally) when PostgreSQL is unreachable
    url = create_postgres_database()
    try:
        subprocess.run(
            [ATLAS_SA, "db", "upgrade", "--database-url", url], check=True, capture_output=True, env=dict(os.environ)
        )
        yield url
    finally:
        drop_postgres_database(url)
