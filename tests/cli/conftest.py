"""Fixtures of the command-line tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.databases import create_postgres_database, drop_postgres_database


@pytest.fixture
def own_postgres(postgresql_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of the test's own: the processes it starts claim it with their master key
    (``atlas_sa.auth.masterkey``), which other tests' keys must not meet."""
    del postgresql_url  # only for its skip (locally) when PostgreSQL is unreachable
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)
