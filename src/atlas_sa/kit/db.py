"""Storage: one async engine per process, SQLite (default) or PostgreSQL, and the request's unit of work.

Services and repositories never commit: the route wrapper (:mod:`atlas_sa.kit.routing`) commits once, before the
response leaves, so nothing is acknowledged that is not durable.

A SQLite file is created owner-only (0600) before SQLite opens it: SQLite gives the ``-wal``, ``-shm`` and
``-journal`` files it makes beside a database the database file's own mode, so they are private too. (SQLite alone
creates them 0644 less the umask: anyone on the host could read the hashes and sealed keys.)

SQLite runs in WAL mode with foreign keys on. pysqlite's own transaction handling is switched off so that write
requests can open their transaction with ``BEGIN IMMEDIATE``: taking the write lock up front means two concurrent
writers queue on ``busy_timeout`` instead of one failing with "database is locked" when it upgrades a read lock.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Compiled, Dialect, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import QueuePool, StaticPool
from sqlalchemy.sql.expression import Executable
from sqlalchemy.util import greenlet_spawn

SQLITE_BUSY_TIMEOUT_MS = 30_000


class DatabaseUrlError(ValueError):
    """The database URL cannot be used; the message is one line, fit for a CLI error."""


def parse_database_url(raw: str) -> URL:
    """Normalise a user-given URL to the async driver we run: ``sqlite+aiosqlite`` or ``postgresql+psycopg``."""
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise DatabaseUrlError(
            f"cannot parse database URL {raw!r}: expected sqlite:///PATH or postgresql://..."
        ) from exc
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite", "aiosqlite"):
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg", "psycopg2"):
        return url.set(drivername="postgresql+psycopg")
    raise DatabaseUrlError(
        f"unsupported database URL scheme {url.drivername!r}: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    )


def sync_url(url: URL) -> URL:
    """The same database through a synchronous driver, for Alembic."""
    if url.get_backend_name() == "sqlite":
        return url.set(drivername="sqlite+pysqlite")
    return url


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def sqlite_path(url: URL) -> str | None:
    """The file of a SQLite database; ``None`` in memory (or for a ``file:`` URI, left to SQLite)."""
    if url.get_backend_name() != "sqlite" or is_memory_sqlite(url) or url.query.get("uri"):
        return None
    database = url.database or ""
    return None if database.startswith("file:") else database


def sqlite_file_missing(url: URL) -> bool:
    path = sqlite_path(url)
    return path is not None and not Path(path).exists()


def create_sqlite_file(url: URL) -> None:
    """Create a SQLite database file 0600 unless it exists (an empty file is an empty database)."""
    path = sqlite_path(url)
    if path is None:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:  # it exists, or its folder does not: SQLite opens it, or says why it cannot
        return


_SECRET_QUERY_KEYS = frozenset({"password", "sslpassword"})


def describe_database(url: URL) -> str:
    """The database as a user should see it: the password hidden, a SQLite file's path made absolute (a relative
    path names a different file in every folder)."""
    path = sqlite_path(url)
    if path is not None:
        url = url.set(drivername="sqlite", database=str(Path(path).resolve()))
    # libpq also takes a password, and its client key's, from the query (``?password=…``), which hide_password
    # leaves alone; ``***`` as for the userinfo's (rendering would escape it as %2A%2A%2A).
    hidden = {name: "***" for name in url.query if name.lower() in _SECRET_QUERY_KEYS}
    shown = url.update_query_dict(hidden).render_as_string(hide_password=True)
    return shown.replace("=%2A%2A%2A", "=***") if hidden else shown


def install_sqlite_pragmas(sync_engine: Any) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # FULL: a commit the client saw acknowledged survives power loss too, not only a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class _InlineConnection(aiosqlite.Connection):
    """aiosqlite that runs each call on the event loop's thread instead of handing it to the connection's thread.

    Sync or async, deliberately, for SQLite read transactions only: a read in WAL mode never waits for a lock, and
    a query on a local file answers in tens of microseconds, while the hand-off to aiosqlite's thread and back
    costs two thread wake-ups and a GIL exchange per call (measured: ~4 ms of CPU per authenticated read of five
    statements on the 2-core benchmark machine, against ~0.1 ms inline). Writes keep the thread: a writer may
    wait up to ``busy_timeout`` for the write lock, and waiting on the loop's thread would stall every request,
    the lock holder included.
    """

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def fetch_all(self, sql: str, parameters: tuple[Any, ...] | dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of one statement, straight from sqlite3: no coroutine per cursor call (:func:`fetch_rows`)."""
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        rows: list[tuple[Any, ...]] = self._connection.execute(sql, parameters).fetchall()
        return rows


async def _inline_reader(path: str) -> aiosqlite.Connection:
    # Opened by aiosqlite's thread, then used from the loop's: hence check_same_thread=False.
    connection = _InlineConnection(partial(sqlite3.connect, path, check_same_thread=False), 64)
    connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite dialect does
    return await connection


class Database:
    def __init__(self, raw_url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self._read_engine: AsyncEngine | None = None
        self.url = parse_database_url(raw_url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        create_sqlite_file(self.url)
        kwargs: dict[str, Any] = {"echo": echo}
        if is_memory_sqlite(self.url):
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        elif not self.is_sqlite:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            install_sqlite_pragmas(self.engine.sync_engine)
            write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            write_engine = self.engine
        read_engine = self.engine
        if self.is_sqlite and not is_memory_sqlite(self.url):
            # As many idle connections kept as may be opened: an overflow connection closed on return would be
            # reopened (a thread, a file, four PRAGMAs) by the next burst.
            read_engine = self._read_engine = create_async_engine(
                self.url,
                echo=echo,
                async_creator=partial(_inline_reader, self.url.database or ""),
                pool_size=2 * pool_size,
                max_overflow=0,
            )
            install_sqlite_pragmas(read_engine.sync_engine)
        self._reader = read_engine
        self._read_sessions = async_sessionmaker(read_engine, expire_on_commit=False, autoflush=False)
        self._write_sessions = async_sessionmaker(write_engine, expire_on_commit=False, autoflush=False)

    def session(self, *, write: bool) -> AsyncSession:
        return (self._write_sessions if write else self._read_sessions)()

    async def read_rows(self, statement: Executable, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of one read-only statement, as :func:`fetch_rows` runs it, on a read connection of its own,
        without a session: for a request whose one statement is its whole unit of work (a list page on its fast
        path). A single statement reads one snapshot by itself, so no transaction is begun around it: SQLite's
        connections run in autocommit mode, and a PostgreSQL connection is put in it for the statement (else psycopg
        sends a BEGIN before it and the pool a ROLLBACK after it, two round trips more). The session's begin,
        autobegin and close were a tenth of a list page's CPU."""
        pooled = await self._reader.raw_connection()
        try:
            driver = pooled.driver_connection
            compiled = _compiled(statement, self._reader.dialect)
            if not isinstance(driver, psycopg.AsyncConnection):
                return await _driver_rows(driver, compiled, values)
            # The pool's pre-ping leaves the connection idle (it pings in autocommit too).
            await driver.set_autocommit(True)
            try:
                return await _driver_rows(driver, compiled, values)
            finally:
                await driver.set_autocommit(False)
        finally:
            # Returning it resets it through the async driver, which needs SQLAlchemy's greenlet bridge.
            await greenlet_spawn(pooled.close)

    @asynccontextmanager
    async def unit_of_work(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block succeeds and rolls back when it raises (CLI and tests)."""
        session = self.session(write=write)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()

    def connections_in_use(self) -> dict[str, int]:
        """Connections checked out of each pool (``primary``; on a SQLite file also ``read``), for the metrics."""
        pools = {"primary": self.engine.sync_engine.pool}
        if self._read_engine is not None:
            pools["read"] = self._read_engine.sync_engine.pool
        # StaticPool (in-memory SQLite) keeps no count.
        return {name: pool.checkedout() for name, pool in pools.items() if isinstance(pool, QueuePool)}

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._read_engine is not None:
            await self._read_engine.dispose()


_COMPILED: dict[tuple[Executable, str], Compiled] = {}


def _compiled(statement: Executable, dialect: Dialect) -> Compiled:
    key = (statement, dialect.name)
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    return found


async def fetch_rows(session: AsyncSession, statement: Executable, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of ``statement`` (a module-level constant: it is compiled once per dialect and kept), run by the
    driver itself on the session's connection, in its transaction.

    For a hot read of many plain columns: SQLAlchemy's execution and result layers (the statement's cache key,
    computed on every execution by walking the whole statement, then a ``Row`` and its processors per row) cost a
    list page of 100 accounts more than SQLite's own work on the statement (docs/performance.md, "Lists"). Values
    come as the driver returns them, unprocessed: SQLite's booleans are 0 and 1, and only values that need no bind
    processing may be passed (strings, integers)."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    return await _driver_rows(driver, _compiled(statement, connection.dialect), values)


async def _driver_rows(driver: Any, compiled: Compiled, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    positions = compiled.positiontup  # type: ignore[attr-defined]
    parameters = tuple(values[name] for name in positions) if positions is not None else dict(values)
    if isinstance(driver, _InlineConnection):
        return driver.fetch_all(compiled.string, parameters)
    if isinstance(driver, aiosqlite.Connection):
        async with driver.execute(compiled.string, parameters) as cursor:
            found: list[tuple[Any, ...]] = list(await cursor.fetchall())  # type: ignore[arg-type] # plain tuples
            return found
    async with driver.cursor() as cursor:  # psycopg's AsyncConnection
        await cursor.execute(compiled.string, parameters)
        rows: list[tuple[Any, ...]] = await cursor.fetchall()
        return rows
