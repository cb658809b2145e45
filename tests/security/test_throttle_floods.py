"""Floods of unauthenticated requests against the rate-limit and brute-force state: it stays bounded, and nobody's
failure count or lockout is reset by it.

The state lives in the ``rate_limit_buckets`` table on PostgreSQL and in the memory store on SQLite; each test
counts it where it lives. The memory store's bound is the ``throttle_memory_entries`` setting, small here so that a
flood of a few hundred requests overflows it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from atlas_sa.auth.core import AuthCore
from atlas_sa.kit.buckets import PURGE_SECONDS, MemoryBuckets
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.state import AppState
from tests.auth.test_bruteforce import until_complete
from tests.security.conftest import SMALL_LIMITS, AppFactory
from tests.security.test_brute_force import assert_locked, token
from tests.support.client import AtlasClient, ClientFactory

ATTACKER = "198.51.100.66"
WINDOW = SMALL_LIMITS["auth_lockout_seconds"]
PER_ADDRESS = SMALL_LIMITS["auth_failures_per_address"]


def invented_client_id(i: int) -> str:
    # Well-formed ids nobody has, and malformed ones (with characters that get hashed into the key), alternately.
    return "mdb_sa_id_" + secrets.token_hex(12) if i % 2 else f"nobody {secrets.token_hex(4)} é"


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[None]:
    """The app as ``atlas-sa serve`` runs it: its lifespan starts the invalidation listener, so that on PostgreSQL
    too lockouts are checked in memory, where their bound applies."""
    async with app.router.lifespan_context(app):
        await until_complete(app)
        yield


async def state_size(app: FastAPI) -> int:
    """How many buckets the app's store holds: rows of the table, or entries in memory."""
    state: AppState = app.state.atlas
    core: AuthCore = app.state.auth
    store = core.limits.store
    if isinstance(store, MemoryBuckets):
        return len(store)
    async with state.db.engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM rate_limit_buckets"))).scalar_one())


async def test_invented_client_ids_leave_bounded_state(
    make_app: AppFactory, connect: ClientFactory, clock: FrozenClock
) -> None:
    app = make_app(auth_failure_delay_seconds=0.0, throttle_memory_entries=64)
    async with served(app):
        await flood_with_invented_ids(app, connect, clock)


async def flood_with_invented_ids(app: FastAPI, connect: ClientFactory, clock: FrozenClock) -> None:
    attacker = connect(app, ATTACKER)
    statuses = [(await token(attacker, invented_client_id(i), "mdb_sa_sk_guess")).status_code for i in range(2000)]
    # The address's budget runs out, then it is refused before anything is checked or written.
    assert statuses == [401] * PER_ADDRESS + [429] * (2000 - PER_ADDRESS)
    # What that budget needs: one address bucket, and a pair and a client-id bucket per failure it allowed.
    assert await state_size(app) <= 1 + 2 * PER_ADDRESS

    # From many addresses (each under its own budget), round after round: the state of a round is gone once its
    # buckets have refilled (PostgreSQL deletes the full rows; memory holds at most 64 buckets per policy).
    memory = isinstance(app.state.auth.limits.store, MemoryBuckets)
    bound = 3 * 64 if memory else 20 * (1 + 2 * 10) + 1 + 2 * PER_ADDRESS
    for round_number in range(3):
        for address in range(20):
            flooder = connect(app, f"10.{round_number}.0.{address}")
            for i in range(10):
                response = await token(flooder, invented_client_id(i), "mdb_sa_sk_guess")
                assert response.status_code == 401
        assert await state_size(app) <= bound
        clock.advance(seconds=WINDOW + PURGE_SECONDS)
    await token(attacker, invented_client_id(1), "mdb_sa_sk_guess")
    assert await state_size(app) <= (3 * 64 if memory else 3)


async def test_only_authenticated_clients_take_from_the_token_rate_limit(
    make_app: AppFactory, connect: ClientFactory
) -> None:
    app = make_app(auth_failure_delay_seconds=0.0, rate_limit_token="3/3/60")
    owner = connect(app, ATTACKER)
    made = await owner.bootstrap()
    # Wrong secrets spend nothing of the client's token budget (they spend the brute-force guard's).
    for _ in range(5):
        refused = await token(owner, made.client_id, "mdb_sa_sk_guess")
        assert refused.status_code == 401
        assert "RateLimit-Remaining" not in refused.headers
    for remaining in (2, 1, 0):
        response = await token(owner, made.client_id, made.client_secret)
        assert response.status_code == 200
        assert response.headers["RateLimit-Remaining"] == str(remaining)
    limited = await token(owner, made.client_id, made.client_secret)
    assert limited.status_code == 429
    assert limited.json()["errorCode"] == "RATE_LIMITED"


async def flood(app: FastAPI, connect: ClientFactory, prefix: str, owner: AtlasClient | None = None) -> None:
    """Failures with invented client ids from 40 addresses (5 each, under every budget), and, with ``owner``, as
    many successes from as many addresses: several times what the memory store holds per policy."""
    for address in range(40):
        flooder = connect(app, f"{prefix}.{address}")
        for i in range(5):
            assert (await token(flooder, invented_client_id(i), "mdb_sa_sk_guess")).status_code == 401
        if owner is not None and owner.credentials is not None:
            credentials = owner.credentials
            assert (await token(flooder, credentials.client_id, credentials.client_secret)).status_code == 200


async def test_a_flood_does_not_reset_failure_counts(make_app: AppFactory, connect: ClientFactory) -> None:
    app = make_app(auth_failure_delay_seconds=0.0, throttle_memory_entries=16)
    async with served(app):
        await flood_during_an_attack(app, connect)


async def flood_during_an_attack(app: FastAPI, connect: ClientFactory) -> None:
    attacker, owner = connect(app, ATTACKER), connect(app, "203.0.113.10")
    victim = await owner.bootstrap()
    owner.credentials = victim
    for _ in range(9):
        assert (await token(attacker, victim.client_id, "mdb_sa_sk_guess")).status_code == 401
    await flood(app, connect, "10.1.0", owner)
    # The attacker's count survived: one guess left, then the lockout, the right secret refused too.
    assert (await token(attacker, victim.client_id, "mdb_sa_sk_guess")).status_code == 401
    assert_locked(await token(attacker, victim.client_id, "mdb_sa_sk_guess"))
    await flood(app, connect, "10.2.0", owner)
    assert_locked(await token(attacker, victim.client_id, victim.client_secret))


async def test_a_flood_of_lockouts_does_not_lift_one(make_app: AppFactory, connect: ClientFactory) -> None:
    app = make_app(auth_failure_delay_seconds=0.0, throttle_memory_entries=16)
    async with served(app):
        await lockouts_after_a_lockout(app, connect)


async def lockouts_after_a_lockout(app: FastAPI, connect: ClientFactory) -> None:
    attacker = connect(app, ATTACKER)
    victim = await attacker.bootstrap()
    for _ in range(10):
        assert (await token(attacker, victim.client_id, "mdb_sa_sk_guess")).status_code == 401
    assert_locked(await token(attacker, victim.client_id, "mdb_sa_sk_guess"))
    # Each of 40 addresses locks its own (client id, address) pair: two and a half times the lockouts an instance
    # holds in memory. (On SQLite the memory store itself keeps 16 pair buckets: once they are all lockouts, later
    # pairs go uncounted, their address and client-id buckets still count; on PostgreSQL all 40 lock.)
    for address in range(40):
        flooder = connect(app, f"10.3.0.{address}")
        client_id = invented_client_id(1)
        responses = [await token(flooder, client_id, "mdb_sa_sk_guess") for _ in range(11)]
        assert {r.status_code for r in responses} <= {401, 429}
    assert_locked(await token(attacker, victim.client_id, victim.client_secret))
