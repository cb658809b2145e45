"""Shared fixtures: both backends, a frozen clock, the app, and a client speaking real HTTP to it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from atlas_sa.app import create_app
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.migrations import upgrade
from atlas_sa.models import Base
from atlas_sa.settings import Settings
from tests.support.client import AtlasClient, ClientFactory
from tests.support.databases import create_postgres_database, drop_postgres_database, postgres_available
from tests.support.settings import settings_on

IN_CI = bool(os.environ.get("CI"))
_PG_UNAVAILABLE = postgres_available()
if _PG_UNAVAILABLE and IN_CI:
    raise pytest.UsageError(f"CI is set but PostgreSQL is unreachable ({_PG_UNAVAILABLE}): its tests must run in CI")

BACKENDS = ["sqlite", "postgresql"]
EPOCH = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


def pytest_report_header() -> list[str]:
    if _PG_UNAVAILABLE:
        return [
            "!" * 100,
            f"!!! PostgreSQL UNREACHABLE ({_PG_UNAVAILABLE}): every PostgreSQL test is SKIPPED in this local run.",
            "!!! CI runs them; start PostgreSQL to run them here.",
            "!" * 100,
        ]
    return ["backends: sqlite, postgresql"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _PG_UNAVAILABLE:
        terminalreporter.write_line(
            "WARNING: PostgreSQL was unreachable; its tests were SKIPPED (they run in CI).",
            red=True,
            bold=True,
        )


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("db") / "atlas-sa-test.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    if _PG_UNAVAILABLE:
        pytest.skip(f"PostgreSQL unreachable ({_PG_UNAVAILABLE}); CI runs these tests")
    url = create_postgres_database()
    try:
        upgrade(url)
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(scope="session")
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def db(database: Database) -> AsyncIterator[Database]:
    """The test's database, emptied after the test so every test starts from nothing."""
    yield database
    async with database.unit_of_work() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(delete(table))


@pytest.fixture
def own_postgres(postgresql_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of the test's own: what the test does to it (server processes claiming it
    with their master key, a schema broken on purpose) meets no other test."""
    del postgresql_url  # only for its skip (locally) when PostgreSQL is unreachable
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(params=BACKENDS)
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of the test's own on each backend: a SQLite file, or :func:`own_postgres`'s."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'own.db'}"
    url: str = request.getfixturevalue("own_postgres")
    return url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(EPOCH)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_on(database_url)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock, db: Database) -> object:
    return create_app(settings, clock=clock, database=db)


@pytest.fixture
async def client(app: object) -> AsyncIterator[AtlasClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))  # type: ignore[arg-type]
    async with AtlasClient(app=app, transport=transport, base_url="http://atlas.test") as c:
        yield c


@pytest.fixture
def routed(settings: Settings, clock: FrozenClock, db: Database, connect: ClientFactory) -> AtlasClient:
    """A second app on the same database and clock, with the fast paths off: the routed answers a fast path's must
    equal byte for byte."""
    return connect(create_app(settings.model_copy(update={"fast_paths": False}), clock=clock, database=db))


@pytest.fixture
async def owner(client: AtlasClient) -> str:
    """Makes ``client`` the ``ORG_OWNER`` service account of a fresh organization named "home"; its id."""
    return await client.create_org("home")


@pytest.fixture
async def connect() -> AsyncIterator[ClientFactory]:
    """``connect(app, ip)``: a client of ``app`` whose requests come from ``ip``."""
    made: list[AtlasClient] = []

    def factory(app: FastAPI, ip: str = "203.0.113.7") -> AtlasClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 50000))
        client = AtlasClient(app=app, transport=transport, base_url="http://atlas.test")
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()
