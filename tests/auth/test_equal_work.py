"""A wrong credential costs the same work whatever identity it names: a client id (or API public key) that exists and
was used a moment ago, one that exists, one that never did, and a malformed one. Response time then cannot tell an
attacker which ids exist or are in use.

The work is counted, not timed (``bench/timing.py`` times it): every SQL statement the request sends (the same
statements, in the same order), every secret hashed or key unsealed, every client-cache lookup. The counters wrap
the real calls and change nothing: SQLAlchemy's ``before_cursor_execute`` event, a :class:`ServerKeys` subclass that
counts and calls its parent, and the client cache's own method wrapped on the app's instance."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, event

from atlas_sa.api_keys.service import create_api_key
from atlas_sa.audit.recording import CLI, EventRecorder
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.state import AppState
from tests.auth.digest.helpers import DigestFields, parse_challenge
from tests.support.client import TOKEN_PATH, AtlasClient, ClientFactory, basic

WRONG_SECRET = "mdb_sa_sk_" + "x" * 40


@dataclass
class Work:
    statements: list[str] = field(default_factory=list)
    hashes: int = 0
    unsealed: int = 0
    cache_lookups: int = 0


@dataclass(frozen=True)
class CountingKeys(ServerKeys):
    """The app's keys, counting the secret hashes and unsealings they perform."""

    work: list[Work] = field(default_factory=lambda: [Work()])

    def hash_secret(self, secret: str) -> str:
        self.work[0].hashes += 1
        return super().hash_secret(secret)

    def decrypt(self, sealed: bytes, *, context: bytes = b"") -> bytes:
        self.work[0].unsealed += 1
        return super().decrypt(sealed, context=context)


def instrument(app: FastAPI) -> CountingKeys:
    state: AppState = app.state.atlas
    keys = CountingKeys(state.keys.hash_key, state.keys.encryption_key, state.keys.check_value)
    state.keys = keys
    caches = app.state.auth.caches
    lookup = caches.client

    def counted(client_id: str) -> Any:
        keys.work[0].cache_lookups += 1
        return lookup(client_id)

    caches.client = counted  # type: ignore[method-assign]
    return keys


@contextmanager
def counting(keys: CountingKeys) -> Iterator[Work]:
    work = keys.work[0] = Work()
    # Every engine: on SQLite the database keeps a second one for reads.
    engine = Engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        work.statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield work
    finally:
        event.remove(engine, "before_cursor_execute", record)


def assert_same_work(works: dict[str, Work]) -> None:
    (first_kind, first), *others = works.items()
    assert first.hashes + first.unsealed > 0
    for kind, work in others:
        assert work.statements == first.statements, f"{kind} vs {first_kind}"
        assert (work.hashes, work.unsealed, work.cache_lookups) == (
            first.hashes,
            first.unsealed,
            first.cache_lookups,
        ), f"{kind} vs {first_kind}"


async def test_a_wrong_client_secret_costs_the_same_for_every_client_id(
    app: FastAPI, client: AtlasClient, connect: ClientFactory
) -> None:
    org_id = await client.create_org()
    used = await client.add_account(org_id, name="used")
    unused = await client.add_account(org_id, name="unused")
    await client.token_for(used.client_id, used.client_secret)  # in the client cache now, as a busy client is
    keys = instrument(app)
    ids: dict[str, Callable[[], str]] = {
        "known, used a moment ago": lambda: used.client_id,
        "known, not used lately": lambda: unused.client_id,
        "never seen": lambda: "mdb_sa_id_" + secrets.token_hex(12),
        "malformed": lambda: "not-a-client-id",
    }
    works: dict[str, Work] = {}
    # Twice each, every attempt from its own address so the brute-force buckets start alike: the second round shows
    # that a failure leaves nothing behind (no negative cache entry) that would make the next one cheaper.
    for round_number in range(2):
        for index, (kind, client_id) in enumerate(ids.items()):
            attacker = connect(app, f"198.51.100.{10 * round_number + index}")
            with counting(keys) as work:
                response = await attacker.post(
                    TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=basic(client_id(), WRONG_SECRET)
                )
            assert response.status_code == 401, (kind, response.text)
            works[f"{kind} #{round_number}"] = work
    assert_same_work(works)
    # And the work is what it should be: one HMAC of the presented secret, one cache lookup, one database read.
    any_work = next(iter(works.values()))
    assert (any_work.hashes, any_work.cache_lookups) == (1, 1)
    # The client's correct secret still costs no SQL once cached (the token path's performance).
    with counting(keys) as work:
        assert (await client.token_for(used.client_id, used.client_secret)).count(".") == 2
    by_client_id = [s for s in any_work.statements if "WHERE service_accounts.client_id =" in s]
    assert len(by_client_id) == 1
    assert not [s for s in work.statements if s in by_client_id]


async def test_a_wrong_api_key_costs_the_same_for_every_public_key(
    app: FastAPI, client: AtlasClient, connect: ClientFactory
) -> None:
    org_id = await client.create_org()
    state: AppState = app.state.atlas
    async with state.db.unit_of_work() as session:
        recorder = EventRecorder(session, state.clock, CLI)
        public, private = await create_api_key(session, state.keys, state.clock, org_id, ["ORG_OWNER"], "key", recorder)
    keys = instrument(app)
    usernames = {"known": public, "unknown": "zzzzzzzz", "malformed": "x" * 40, "empty": ""}
    works: dict[str, Work] = {}
    for index, (kind, username) in enumerate(usernames.items()):
        caller = connect(app, f"198.51.100.{100 + index}")
        path = "/api/atlas/v2/groups"
        challenge = await caller.get(path)
        nonce = parse_challenge(challenge.headers["www-authenticate"])["nonce"]
        header = DigestFields(username, private[::-1], nonce, path).header()
        with counting(keys) as work:
            response = await caller.get(path, headers={"Authorization": header})
        assert response.status_code == 401, (kind, response.text)
        works[kind] = work
    assert_same_work(works)
    assert next(iter(works.values())).unsealed == 1
