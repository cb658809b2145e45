"""Two ``atlas-sa serve`` instances on one PostgreSQL share the brute-force guard with nothing else between them: a
lockout earned through one is refused by the other within a second, and an address that succeeded through one is
spared the client-id lockout on the other."""

from __future__ import annotations

import itertools

import httpx
import pytest

from tests.reliability.test_crash_safety import bootstrap
from tests.reliability.test_instances import DEADLINE, INSTANCE_ENV, refused_within
from tests.support.server import LiveServer, live_server

pytestmark = pytest.mark.slow

PAIR, CLIENT = 10, 20
ENV = {
    **INSTANCE_ENV,
    # The tests' requests all come from loopback: a trusted proxy there lets X-Forwarded-For name the address.
    "ATLAS_SA_TRUSTED_PROXIES": '["127.0.0.1"]',
    "ATLAS_SA_AUTH_FAILURES_PER_CLIENT_ADDRESS": str(PAIR),
    "ATLAS_SA_AUTH_FAILURES_PER_CLIENT": str(CLIENT),
    "ATLAS_SA_AUTH_FAILURE_DELAY_SECONDS": "0",
}
HOME, ATTACKER, ELSEWHERE = "203.0.113.10", "198.51.100.66", "203.0.113.99"


def mint(server: LiveServer, address: str, client_id: str, secret: str) -> httpx.Response:
    return server.mint(client_id, secret, headers={"X-Forwarded-For": address})


def test_lockouts_and_known_addresses_are_shared(shared_postgres: str) -> None:
    owner = bootstrap(shared_postgres)
    client_id, secret = owner["clientId"], owner["clientSecret"]
    with live_server(shared_postgres, env=ENV) as a, live_server(shared_postgres, env=ENV) as b:
        assert mint(a, HOME, client_id, secret).status_code == 200
        # B's first attempt has it read the lockouts back once; from then on it answers from memory.
        assert mint(b, ELSEWHERE, client_id, secret).status_code == 200

        # The attacker's (client, address) locked out through A: B refuses even the right secret.
        for _ in range(PAIR):
            assert mint(a, ATTACKER, client_id, "mdb_sa_sk_wrong").status_code == 401
        refused_within(DEADLINE, lambda: mint(b, ATTACKER, client_id, secret), status=429)

        # A distributed attack on the client id through B (the attacker's failures count too): A refuses addresses
        # that never succeeded. Each try comes from a fresh address, so one let through early proves nothing later.
        for i in range(CLIENT - PAIR):
            assert mint(b, f"198.51.100.{i + 1}", client_id, "mdb_sa_sk_wrong").status_code == 401
        fresh = (f"192.0.2.{i}" for i in itertools.count(1))
        refused_within(DEADLINE, lambda: mint(a, next(fresh), client_id, secret), status=429)
        assert mint(b, next(fresh), client_id, secret).status_code == 429
        # HOME succeeded through A only: B spares it, and so does A.
        assert mint(b, HOME, client_id, secret).status_code == 200
        assert mint(a, HOME, client_id, secret).status_code == 200
