"""The brute-force guard from memory: a successful attempt reads and writes no bucket (one record of the address
every few minutes aside), lockouts are refused without reading the store, and on PostgreSQL every instance learns a
lockout within a second, and an address that succeeded through one instance is spared the client-id lockout on the
others. Apps run their lifespan here, as under uvicorn, so the invalidation listener is up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from atlas_sa import changes
from atlas_sa.app import create_app
from atlas_sa.auth.bruteforce import KNOWN_REFRESH_SECONDS
from atlas_sa.auth.core import AuthCore
from atlas_sa.auth.lockouts import Lockout, Lockouts
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.kit.state import AppState
from atlas_sa.settings import Settings
from tests.support.client import TOKEN_PATH, AtlasClient, ClientFactory
from tests.support.settings import settings_on

LIMITS: dict[str, Any] = {
    "auth_failures_per_client_address": 10,
    "auth_failures_per_address": 30,
    "auth_failures_per_client": 20,
    "auth_lockout_seconds": 900,
    "auth_failure_delay_seconds": 0.0,
    "rate_limits_enabled": False,
}
GRANT = {"grant_type": "client_credentials"}
HOME, ATTACKER, NEW = "203.0.113.7", "198.51.100.66", "192.0.2.200"  # HOME is the `client` fixture's address

Serve = Callable[[FastAPI], Awaitable[None]]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_on(database_url, **LIMITS)


@pytest.fixture
def postgresql_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("instances share lockouts through PostgreSQL; a SQLite deployment is one process")


def state_of(app: Any) -> AppState:
    state: AppState = app.state.atlas
    return state


def lockouts(app: Any) -> Lockouts:
    core: AuthCore = app.state.auth
    return core.guard.lockouts


async def until_complete(app: Any) -> None:
    """Until the app's lockouts are complete in memory (on PostgreSQL: listening, and read back once)."""
    held = lockouts(app)
    deadline = time.monotonic() + 5
    while not held.complete(0.0):
        assert time.monotonic() < deadline, "the lockouts were never read back"
        await asyncio.sleep(0.01)


@pytest.fixture
async def serving() -> AsyncIterator[Serve]:
    """``await serving(app)``: runs the app's lifespan (the invalidation listener) until the test ends."""
    stack: list[AbstractAsyncContextManager[None]] = []

    async def start(app: FastAPI) -> None:
        context = cast("AbstractAsyncContextManager[None]", app.router.lifespan_context(app))
        await context.__aenter__()
        stack.append(context)
        await until_complete(app)

    yield start
    for context in reversed(stack):
        await context.__aexit__(None, None, None)


@pytest.fixture
async def two_instances(
    postgresql_only: None, settings: Settings, clock: FrozenClock, db: Database, serving: Serve
) -> tuple[FastAPI, FastAPI]:
    """Two apps on one PostgreSQL database, each listening for the other's announcements."""
    one, two = create_app(settings, clock=clock, database=db), create_app(settings, clock=clock, database=db)
    await serving(one)
    await serving(two)
    return one, two


@contextmanager
def bucket_statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements that touch the bucket table while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "rate_limit_buckets" in statement:
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def token(client: AtlasClient, client_id: str, secret: str) -> httpx.Response:
    return await client.post(TOKEN_PATH, data=GRANT, auth=(client_id, secret))


def assert_locked(response: httpx.Response, capacity: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["parameters"] == [TOKEN_PATH, capacity, 15]


async def test_successes_touch_no_bucket(
    app: FastAPI, client: AtlasClient, serving: Serve, db: Database, clock: FrozenClock, database_url: str
) -> None:
    await serving(app)
    made = await client.bootstrap()
    assert (await token(client, made.client_id, made.client_secret)).status_code == 200  # records the address
    with bucket_statements(db) as seen:
        for _ in range(5):
            assert (await token(client, made.client_id, made.client_secret)).status_code == 200
    assert seen == []
    # Minutes later the address is recorded again, once, so "succeeded in the last 24 hours" stays true.
    clock.advance(seconds=KNOWN_REFRESH_SECONDS)
    with bucket_statements(db) as seen:
        for _ in range(3):
            assert (await token(client, made.client_id, made.client_secret)).status_code == 200
    # (Besides the record, that write may be the one, at most once a minute, that deletes the table's full rows.)
    recorded = [s for s in seen if not s.lstrip().startswith("DELETE FROM rate_limit_buckets")]
    assert len(recorded) == (1 if database_url.startswith("postgresql") else 0), seen
    assert len(seen) - len(recorded) <= 1


async def test_lockout_refused_from_memory_until_it_refills(
    app: FastAPI, client: AtlasClient, serving: Serve, connect: ClientFactory, db: Database, clock: FrozenClock
) -> None:
    await serving(app)
    attacker = connect(app, ATTACKER)
    made = await client.bootstrap()
    for _ in range(10):
        assert (await token(attacker, made.client_id, "mdb_sa_sk_wrong")).status_code == 401
    with bucket_statements(db) as seen:
        locked = await token(attacker, made.client_id, made.client_secret)
    assert_locked(locked, 10)
    assert locked.headers["Retry-After"] == "90"  # 10 tokens over 900 s
    assert seen == [], "a lockout is refused from memory"
    assert (await token(client, made.client_id, made.client_secret)).status_code == 200
    clock.advance(seconds=89)
    assert_locked(await token(attacker, made.client_id, made.client_secret), 10)
    clock.advance(seconds=1)
    assert (await token(attacker, made.client_id, "mdb_sa_sk_wrong")).status_code == 401
    assert_locked(await token(attacker, made.client_id, "mdb_sa_sk_wrong"), 10)
    clock.advance(seconds=900)
    assert (await token(attacker, made.client_id, made.client_secret)).status_code == 200


async def test_client_lockout_spares_the_known_address(
    app: FastAPI, client: AtlasClient, serving: Serve, connect: ClientFactory, db: Database
) -> None:
    await serving(app)
    made = await client.bootstrap()
    assert (await token(client, made.client_id, made.client_secret)).status_code == 200
    for i in range(20):
        attacker = connect(app, f"198.51.100.{i + 1}")
        assert (await token(attacker, made.client_id, "wrong")).status_code == 401
    assert_locked(await token(connect(app, NEW), made.client_id, made.client_secret), 20)
    with bucket_statements(db) as seen:
        assert (await token(client, made.client_id, made.client_secret)).status_code == 200
    assert seen == [], "this instance remembers recording the address"


async def test_lockout_through_one_instance_is_refused_by_the_other_within_a_second(
    two_instances: tuple[FastAPI, FastAPI], db: Database, connect: ClientFactory
) -> None:
    one, two = two_instances
    made = await connect(one, HOME).bootstrap()
    for _ in range(10):
        assert (await token(connect(one, ATTACKER), made.client_id, "wrong")).status_code == 401
    started = time.monotonic()
    other = connect(two, ATTACKER)
    while (response := await token(other, made.client_id, made.client_secret)).status_code != 429:
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < 1.0, "the other instance still admits the locked-out pair"
        await asyncio.sleep(0.01)
    assert_locked(response, 10)
    with bucket_statements(db) as seen:
        assert_locked(await token(other, made.client_id, made.client_secret), 10)
    assert seen == [], "the other instance refuses from memory"


async def test_address_known_through_one_instance_is_spared_on_the_other(
    two_instances: tuple[FastAPI, FastAPI], clock: FrozenClock, connect: ClientFactory
) -> None:
    one, two = two_instances
    made = await connect(one, HOME).bootstrap()
    assert (await token(connect(one, HOME), made.client_id, made.client_secret)).status_code == 200
    for i in range(20):
        instance = (one, two)[i % 2]
        assert (await token(connect(instance, f"198.51.100.{i + 1}"), made.client_id, "x")).status_code == 401
    assert_locked(await token(connect(two, NEW), made.client_id, made.client_secret), 20)
    assert (await token(connect(two, HOME), made.client_id, made.client_secret)).status_code == 200
    # A day after its last recorded success, the address is no longer spared (the lockout is kept up meanwhile).
    clock.advance(seconds=86_400 - 30)
    for i in range(20):
        assert (await token(connect(two, f"198.51.100.{i + 30}"), made.client_id, "x")).status_code == 401
    clock.advance(seconds=30)
    assert_locked(await token(connect(two, HOME), made.client_id, made.client_secret), 20)


async def test_lockouts_missed_while_not_listening_are_read_back(
    postgresql_only: None, settings: Settings, clock: FrozenClock, db: Database, serving: Serve, connect: ClientFactory
) -> None:
    one, two = create_app(settings, clock=clock, database=db), create_app(settings, clock=clock, database=db)
    await serving(one)
    made = await connect(one, HOME).bootstrap()
    # The second instance is up but not listening: it checks the table.
    with bucket_statements(db) as seen:
        assert (await token(connect(two, HOME), made.client_id, made.client_secret)).status_code == 200
    assert seen, "without its listener an instance reads the buckets"
    for _ in range(10):
        assert (await token(connect(one, ATTACKER), made.client_id, "wrong")).status_code == 401
    assert_locked(await token(connect(two, ATTACKER), made.client_id, made.client_secret), 10)
    # Once it listens, it reads the lockouts it missed back from the table and answers from memory.
    await serving(two)
    with bucket_statements(db) as seen:
        locked = await token(connect(two, ATTACKER), made.client_id, made.client_secret)
    assert_locked(locked, 10)
    assert locked.headers["Retry-After"] == "90"
    assert seen == []


async def test_reconnection_reads_the_lockouts_again(
    postgresql_only: None, app: FastAPI, serving: Serve, connect: ClientFactory, db: Database, clock: FrozenClock
) -> None:
    await serving(app)
    state = state_of(app)
    made = await connect(app, HOME).bootstrap()
    for _ in range(10):
        assert (await token(connect(app, ATTACKER), made.client_id, "wrong")).status_code == 401
    # What the listener does on reconnecting: announcements may have been lost, so memory is incomplete ...
    state.bus.emit_everything()
    assert not lockouts(app).complete(0.0)
    # ... until the lockouts have been read back; meanwhile the table answers.
    assert_locked(await token(connect(app, ATTACKER), made.client_id, made.client_secret), 10)
    await until_complete(app)
    with bucket_statements(db) as seen:
        assert_locked(await token(connect(app, ATTACKER), made.client_id, made.client_secret), 10)
    assert seen == []
    clock.advance(seconds=900)
    assert (await token(connect(app, ATTACKER), made.client_id, made.client_secret)).status_code == 200


async def test_announcements_from_elsewhere(
    postgresql_only: None, app: FastAPI, serving: Serve, connect: ClientFactory, clock: FrozenClock
) -> None:
    await serving(app)
    state = state_of(app)
    made = await connect(app, HOME).bootstrap()
    state.bus.emit_local(changes.TOPIC, changes.lockout_key("not a lockout"))
    state.bus.emit_local(changes.TOPIC, changes.lockout_key("bf:oauth:address:192.0.2.1 0.5 nan 0.1"))
    assert (await token(connect(app, "192.0.2.1"), made.client_id, made.client_secret)).status_code == 200
    # An address bucket emptied elsewhere a minute ago, refilling one token every 90 s: 30 s to go.
    now = clock.now().timestamp()
    lockout = Lockout(0.0, now - 60, 1 / 90).encode("bf:oauth:address:192.0.2.1")
    state.bus.emit_local(changes.TOPIC, changes.lockout_key(lockout))
    locked = await token(connect(app, "192.0.2.1"), made.client_id, made.client_secret)
    assert_locked(locked, 30)
    assert locked.headers["Retry-After"] == "30"


async def test_shutdown_settles_the_auth_tasks(
    postgresql_only: None, app: FastAPI, connect: ClientFactory, db: Database
) -> None:
    """The lifespan closes what the auth core runs before it lets the database go: a lockout read-back in flight
    is cancelled and a mint batch settles, rather than running on after the app has stopped."""
    async with app.router.lifespan_context(app):
        await until_complete(app)
        made = await connect(app, HOME).bootstrap()
        assert (await token(connect(app, HOME), made.client_id, made.client_secret)).status_code == 200
        # What the listener does on reconnecting: a read-back starts, and the app stops before it is done.
        state_of(app).bus.emit_everything()
        assert not lockouts(app).complete(0.0)
    left = [task.get_name() for task in asyncio.all_tasks() if task.get_name().startswith("atlas-sa-")]
    assert left == []
