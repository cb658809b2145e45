"""The mint batcher (:mod:`atlas_sa.auth.minting`) under concurrent bursts, over HTTP: each batch keeps every
account at its 100 newest unexpired tokens and revokes the pruned ones everywhere, refuses the mints of a secret that
went away after the client cache answered without failing its neighbours, and writes ``lastUsedAt`` as the time of
the latest mint."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import delete, func, select, update

from atlas_sa.kit.clock import FrozenClock, isoformat
from atlas_sa.kit.db import Database
from atlas_sa.models import AccessToken, Base, ChangeLogEntry, ServiceAccountSecret
from atlas_sa.settings import Settings
from tests.support.client import TOKEN_PATH, Account, AtlasClient, basic
from tests.support.settings import settings_on

V2 = "/api/atlas/v2"
GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Bursts past 100 tokens for one client would hit the token endpoint's rate limit (50 a minute), and a burst of
    # refused mints the brute-force guard.
    return settings_on(
        database_url,
        rate_limits_enabled=False,
        auth_throttle_enabled=False,
    )


async def mint(client: AtlasClient, account: Account) -> httpx.Response:
    return await client.post(TOKEN_PATH, data=GRANT, headers=basic(account.client_id, account.client_secret))


async def burst(client: AtlasClient, account: Account, count: int) -> list[str]:
    responses = await asyncio.gather(*(mint(client, account) for _ in range(count)))
    assert [r.status_code for r in responses] == [200] * count
    return [str(r.json()["access_token"]) for r in responses]


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def jti(token: str) -> str:
    return str(claims(token)["jti"])


def newest(tokens: list[str], keep: int) -> set[str]:
    """The jtis the cap keeps: by ``issued_at``, then (within one second) by the time-ordered jti."""
    ordered = sorted((claims(token)["iat"], jti(token)) for token in tokens)
    return {token_id for _iat, token_id in ordered[-keep:]}


async def stored_jtis(db: Database, account_id: str) -> set[str]:
    async with db.unit_of_work(write=False) as session:
        rows = await session.execute(select(AccessToken.jti).where(AccessToken.service_account_id == account_id))
        return set(rows.scalars())


async def test_a_burst_past_the_cap_keeps_each_accounts_newest_100(
    client: AtlasClient, clock: FrozenClock, db: Database
) -> None:
    org_id = await client.create_org()
    first = await client.add_account(org_id, ["ORG_READ_ONLY"], name="first")
    second = await client.add_account(org_id, ["ORG_READ_ONLY"], name="second")
    minter = client.anonymous()
    expired = await minter.token_for(first.client_id, first.client_secret)
    clock.advance(hours=1)
    minted = {first: await burst(minter, first, 90), second: await burst(minter, second, 95)}
    cached = client.anonymous()
    cached.use_token(min(minted[first], key=jti))
    assert (await cached.get(f"{V2}/orgs/{org_id}")).status_code == 200  # its principal is cached now
    clock.advance(seconds=1)

    # Both accounts in the same batches, pruned by the same statements.
    accounts = [first, second] * 20
    responses = await asyncio.gather(*(mint(minter, account) for account in accounts))
    for account, response in zip(accounts, responses, strict=True):
        assert response.status_code == 200, response.text
        minted[account].append(response.json()["access_token"])

    for account in (first, second):
        assert await stored_jtis(db, account.account_id) == newest(minted[account], 100)
    assert jti(expired) not in await stored_jtis(db, first.account_id)
    # The oldest token was pruned while its principal was cached: refused on the very next request.
    assert (await cached.get(f"{V2}/orgs/{org_id}")).status_code == 401
    cached.use_token(minted[second][-1])
    assert (await cached.get(f"{V2}/orgs/{org_id}")).status_code == 200


@pytest.mark.parametrize("change", ["deleted", "expired"])
async def test_a_secret_gone_after_the_cache_answered_refuses_only_its_own_mints(
    client: AtlasClient, clock: FrozenClock, db: Database, change: str
) -> None:
    org_id = await client.create_org()
    gone = await client.add_account(org_id, ["ORG_READ_ONLY"], name="gone")
    kept = await client.add_account(org_id, ["ORG_READ_ONLY"], name="kept")
    minter = client.anonymous()
    for account in (gone, kept):
        await minter.token_for(account.client_id, account.client_secret)  # its client is cached now
    # Changed behind the caches' back, as by another instance whose notification has not arrived yet: a statement on
    # a bare connection, which no session hook sees.
    secrets = Base.metadata.tables[ServiceAccountSecret.__tablename__]
    mine = secrets.c.service_account_id == gone.account_id
    async with db.engine.begin() as connection:
        if change == "deleted":
            await connection.execute(delete(secrets).where(mine))
        else:
            await connection.execute(update(secrets).where(mine).values(expires_at=clock.now()))
    cached = client.app.state.auth.caches.client(gone.client_id)
    assert cached is not None
    assert cached.secrets[0].expires_at > clock.now()

    responses = await asyncio.gather(*(mint(minter, account) for _ in range(10) for account in (gone, kept)))
    refused, accepted = responses[0::2], responses[1::2]
    assert [r.status_code for r in refused] == [401] * 10
    assert {r.json()["error"] for r in refused} == {"invalid_client"}
    assert [r.status_code for r in accepted] == [200] * 10
    # The deleted secret's first token went with it (cascade); the expired one's stays until it expires.
    assert len(await stored_jtis(db, gone.account_id)) == (0 if change == "deleted" else 1)
    assert len(await stored_jtis(db, kept.account_id)) == 11


async def test_last_used_is_the_latest_mints_time(client: AtlasClient, clock: FrozenClock) -> None:
    org_id = await client.create_org()
    account = await client.add_account(org_id, ["ORG_READ_ONLY"])
    minter = client.anonymous()
    url = f"{V2}/orgs/{org_id}/serviceAccounts/{account.client_id}"

    async def last_used() -> str | None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        value: str | None = response.json()["secrets"][0].get("lastUsedAt")
        return value

    assert await last_used() is None
    start = clock.now()
    await burst(minter, account, 5)
    assert await last_used() == isoformat(start)
    await burst(minter, account, 5)  # the same second: nothing to write
    assert await last_used() == isoformat(start)
    clock.advance(seconds=5)
    await burst(minter, account, 5)
    assert await last_used() == isoformat(start + timedelta(seconds=5))
    # A clock behind the stored value (another instance's, say): the mint still records its own time, as before.
    clock.set(start + timedelta(seconds=2))
    await burst(minter, account, 1)
    assert await last_used() == isoformat(start + timedelta(seconds=2))


async def test_the_token_path_appends_nothing_to_the_change_log(
    client: AtlasClient, clock: FrozenClock, db: Database
) -> None:
    """A mint's own keys (a secret's ``lastUsedAt``, the tokens the cap revokes) are dropped here at its commit and
    notified on PostgreSQL, but never logged for other processes on SQLite: a token request costs no extra write."""
    org_id = await client.create_org()
    account = await client.add_account(org_id, ["ORG_READ_ONLY"])
    minter = client.anonymous()
    log = select(func.count()).select_from(ChangeLogEntry)
    async with db.unit_of_work(write=False) as session:
        before = await session.scalar(log)
    await burst(minter, account, 60)
    clock.advance(seconds=2)  # a new lastUsedAt
    await burst(minter, account, 60)  # past the cap of 100: the batch revokes the oldest
    async with db.unit_of_work(write=False) as session:
        assert len(await stored_jtis(db, account.account_id)) == 100
        assert await session.scalar(log) == before
