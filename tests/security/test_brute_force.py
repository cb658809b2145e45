"""Brute force on the token endpoint and on Digest: failures are slowed, then refused for the lockout window, and
the legitimate client keeps working from its own address (RFC 6749 §2.3.1)."""

from __future__ import annotations

import time

import httpx

from atlas_sa.kit.clock import FrozenClock
from tests.auth.digest.helpers import DigestFields, parse_challenge, seed_api_key
from tests.security.conftest import AppFactory
from tests.support.client import TOKEN_PATH, AtlasClient, ClientFactory

GRANT = {"grant_type": "client_credentials"}
ATTACKER, HOME, NEW = "198.51.100.66", "203.0.113.10", "192.0.2.200"


async def token(client: AtlasClient, client_id: str, secret: str) -> httpx.Response:
    return await client.post(TOKEN_PATH, data=GRANT, auth=(client_id, secret))


def assert_locked(response: httpx.Response, capacity: int = 10) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["errorCode"] == "RATE_LIMITED"
    assert body["parameters"] == [TOKEN_PATH, capacity, 15]
    assert int(response.headers["Retry-After"]) >= 1


async def test_attacker_locked_out_legitimate_client_not(
    make_app: AppFactory, connect: ClientFactory, clock: FrozenClock
) -> None:
    app = make_app(auth_failure_delay_seconds=0.0)
    attacker, owner = connect(app, ATTACKER), connect(app, HOME)
    made = await owner.bootstrap()
    for _ in range(10):
        response = await token(attacker, made.client_id, "mdb_sa_sk_wrong")
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
    # Locked: even the right secret is refused before it is checked, so a lucky guess gains nothing.
    assert_locked(await token(attacker, made.client_id, "mdb_sa_sk_wrong"))
    assert_locked(await token(attacker, made.client_id, made.client_secret))
    # The legitimate client, from its own address, is unaffected.
    assert (await token(owner, made.client_id, made.client_secret)).status_code == 200
    # After the lockout window the attacker's address works again (with the right secret).
    clock.advance(seconds=900)
    assert (await token(attacker, made.client_id, made.client_secret)).status_code == 200


async def test_partial_refill_allows_one_guess_at_a_time(
    make_app: AppFactory, connect: ClientFactory, clock: FrozenClock
) -> None:
    app = make_app(auth_failure_delay_seconds=0.0)
    attacker = connect(app, ATTACKER)
    made = await attacker.bootstrap()
    for _ in range(10):
        assert (await token(attacker, made.client_id, "wrong")).status_code == 401
    locked = await token(attacker, made.client_id, "wrong")
    assert_locked(locked)
    assert locked.headers["Retry-After"] == "90"  # 10 tokens over 900 s: one every 90 s
    clock.advance(seconds=90)
    assert (await token(attacker, made.client_id, "wrong")).status_code == 401
    assert_locked(await token(attacker, made.client_id, "wrong"))


async def test_failures_are_slowed_before_refusal(make_app: AppFactory, connect: ClientFactory) -> None:
    app = make_app(auth_failure_delay_seconds=0.3, auth_failures_before_delay=3)
    attacker = connect(app, ATTACKER)
    made = await attacker.bootstrap()
    durations = []
    for _ in range(6):
        started = time.monotonic()
        assert (await token(attacker, made.client_id, "wrong")).status_code == 401
        durations.append(time.monotonic() - started)
    assert all(d < 0.3 for d in durations[:3]), durations
    assert all(d >= 0.3 for d in durations[3:]), durations
    # Successes are never delayed.
    started = time.monotonic()
    assert (await token(connect(app, HOME), made.client_id, made.client_secret)).status_code == 200
    assert time.monotonic() - started < 0.3


async def test_distributed_attack_spares_known_addresses(make_app: AppFactory, connect: ClientFactory) -> None:
    app = make_app(auth_failure_delay_seconds=0.0, auth_failures_per_client=5)
    owner = connect(app, HOME)
    made = await owner.bootstrap()
    assert (await token(owner, made.client_id, made.client_secret)).status_code == 200
    for i in range(5):
        assert (await token(connect(app, f"198.51.100.{i + 1}"), made.client_id, "wrong")).status_code == 401
    # The client id is now under lockout for addresses that never proved they hold its secret ...
    assert_locked(await token(connect(app, NEW), made.client_id, made.client_secret), capacity=5)
    assert_locked(await token(connect(app, "198.51.100.99"), made.client_id, "wrong"), capacity=5)
    # ... but not for its usual address.
    assert (await token(owner, made.client_id, made.client_secret)).status_code == 200


async def test_one_address_trying_many_clients(make_app: AppFactory, connect: ClientFactory) -> None:
    app = make_app(auth_failure_delay_seconds=0.0, auth_failures_per_address=6)
    attacker = connect(app, ATTACKER)
    made = await attacker.bootstrap()
    for i in range(6):
        assert (await token(attacker, f"mdb_sa_id_{i:024x}", "wrong")).status_code == 401
    assert_locked(await token(attacker, made.client_id, made.client_secret), capacity=6)
    assert (await token(connect(app, HOME), made.client_id, made.client_secret)).status_code == 200


async def test_revocation_and_introspection_count_failures(make_app: AppFactory, connect: ClientFactory) -> None:
    app = make_app(auth_failure_delay_seconds=0.0, auth_failures_per_client_address=4)
    attacker = connect(app, ATTACKER)
    made = await attacker.bootstrap()
    for path in ("/api/oauth/revoke", "/api/oauth/introspect", "/api/oauth/revoke", "/api/oauth/introspect"):
        response = await attacker.post(path, data={"token": "x"}, auth=(made.client_id, "wrong"))
        assert response.status_code == 401
    assert_locked(await token(attacker, made.client_id, made.client_secret), capacity=4)


async def test_switched_off(make_app: AppFactory, connect: ClientFactory) -> None:
    app = make_app(auth_throttle_enabled=False, auth_failures_per_client_address=2)
    attacker = connect(app, ATTACKER)
    made = await attacker.bootstrap()
    for _ in range(5):
        assert (await token(attacker, made.client_id, "wrong")).status_code == 401
    assert (await token(attacker, made.client_id, made.client_secret)).status_code == 200


async def digest_get(client: AtlasClient, path: str, public: str, private: str) -> httpx.Response:
    challenge = await client.get(path)
    assert challenge.status_code == 401
    nonce = parse_challenge(challenge.headers["www-authenticate"])["nonce"]
    return await client.get(path, headers={"Authorization": DigestFields(public, private, nonce, path).header()})


async def test_digest_lockout(make_app: AppFactory, connect: ClientFactory, clock: FrozenClock) -> None:
    app = make_app(auth_failure_delay_seconds=0.0, auth_failures_per_client_address=5)
    attacker, owner = connect(app, ATTACKER), connect(app, HOME)
    org_id = await owner.create_org()
    state = owner.state
    public, private = await seed_api_key(state.db, state.keys, clock, org_id, ("ORG_READ_ONLY",))
    path = f"/api/atlas/v2/orgs/{org_id}"
    home = connect(app, HOME)  # the owner's client carries a bearer token; this one sends Digest only
    for _ in range(5):
        assert (await digest_get(attacker, path, public, "wrong-private-key")).status_code == 401
    locked = await digest_get(attacker, path, public, private)
    assert locked.status_code == 429, locked.text
    body = locked.json()
    assert body["errorCode"] == "RATE_LIMITED_TOKEN_BUCKET"
    assert body["parameters"] == [path.lstrip("/"), 180, 5, 5, 900]
    assert locked.headers["Retry-After"] == "180"
    ok = await digest_get(home, path, public, private)
    assert ok.status_code == 200, ok.text
    clock.advance(seconds=900)
    assert (await digest_get(attacker, path, public, private)).status_code == 200
