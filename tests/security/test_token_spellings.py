"""One token, one spelling: every other way of writing a token we issued is refused, and whatever ends a token
(revocation, the 100-token cap, expiry, deleting its secret) ends it in every spelling that ever worked.

A JWT's signature covers the header and payload segments as sent, so those cannot be respelled; the signature
segment can. PyJWT accepts it with ``==`` appended, and ECDSA accepts ``(r, n - s)`` as well as ``(r, s)``. Both
once verified and were cached under their own string, and the principal cache remembered one string per ``jti``:
a token pruned by the cap kept working under its padded spelling. Besides those, the holder of the signing key
can sign the same header and payload again (ECDSA is randomised): a second canonical string for the same ``jti``,
which the cache must also drop with the token."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import select

from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.models import ServiceAccountSecret
from tests.auth.test_bearer import P256_ORDER, assert_invalid_token, b64, call, raw_signature, signing_key
from tests.support.client import Account, AtlasClient, basic

SA_PATH = "/api/atlas/v2/orgs/{org}/serviceAccounts"


def _signature(token: str) -> tuple[str, int, int]:
    head, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    return head, int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")


def _spell(head: str, r: int, s: int) -> str:
    return f"{head}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def respellings(token: str) -> dict[str, str]:
    """Other strings for ``token`` that an ES256 verifier could take for it (PyJWT 2.15 takes the first three)."""
    head, r, s = _signature(token)
    flipped = _spell(head, r, P256_ORDER - s)
    header, payload = head.split(".")
    return {
        "padded signature": token + "==",
        "other S": flipped,
        "other S, padded": flipped + "==",
        "padded header": f"{header}==.{payload}.{token.rpartition('.')[2]}",
        "padded payload": f"{header}.{payload}=.{token.rpartition('.')[2]}",
    }


async def resign(client: AtlasClient, db: Database, token: str) -> str:
    """The same header and payload signed again with the server's own key: a second genuine string, same jti."""
    _kid, key = await signing_key(client, db)
    head = token.rpartition(".")[0]
    r, s = decode_dss_signature(key.sign(head.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{raw_signature(r, s)}"


async def test_only_the_issued_spelling_is_accepted(client: AtlasClient, db: Database) -> None:
    await client.create_org()
    assert client.account is not None
    for _ in range(8):  # about half of the raw ECDSA signatures have a high S; each issued one must be low
        token = await client.token_for(client.account.client_id, client.account.client_secret)
        _head, _r, s = _signature(token)
        assert s <= P256_ORDER // 2
        assert (await call(client, token)).status_code == 200
        for name, spelling in respellings(token).items():
            response = await call(client, spelling)
            assert response.status_code == 401, name
            assert_invalid_token(response)
        # Asked again after the canonical one is cached: still refused (nothing keyed by the string leaks).
        assert (await call(client, token + "==")).status_code == 401
    # A second genuine signature is canonical too, and works: it is the same token.
    assert (await call(client, await resign(client, db, token))).status_code == 200


Ender = Callable[[AtlasClient, Account, str], Awaitable[None]]


async def _revoke(client: AtlasClient, account: Account, token: str) -> None:
    response = await client.post(
        "/api/oauth/revoke", data={"token": token}, headers=basic(account.client_id, account.client_secret)
    )
    assert response.status_code == 200


async def _prune(client: AtlasClient, account: Account, _token: str) -> None:
    # 100 newer tokens push it out of the account's 100 (the cap); the clock moves so the rate limit refills.
    for i in range(100):
        if i % 40 == 39:
            clock: FrozenClock = client.state.clock  # type: ignore[assignment]
            clock.advance(seconds=60)
        await client.token_for(account.client_id, account.client_secret)


async def _expire(client: AtlasClient, _account: Account, _token: str) -> None:
    clock: FrozenClock = client.state.clock  # type: ignore[assignment]
    clock.advance(seconds=3600)


async def _delete_secret(client: AtlasClient, account: Account, _token: str) -> None:
    async with client.state.db.unit_of_work(write=False) as session:
        secret_id = (
            await session.execute(
                select(ServiceAccountSecret.id).where(ServiceAccountSecret.service_account_id == account.account_id)
            )
        ).scalar_one()
    path = f"{SA_PATH.format(org=account.org_id)}/{account.client_id}/secrets/{secret_id}"
    assert (await client.delete(path)).status_code == 204


@pytest.mark.parametrize("ender", [_revoke, _prune, _expire, _delete_secret], ids=lambda f: f.__name__[1:])
async def test_no_spelling_outlives_its_token(client: AtlasClient, db: Database, ender: Ender) -> None:
    org_id = await client.create_org()
    account = await client.add_account(org_id, roles=("ORG_OWNER",))
    token = await client.token_for(account.client_id, account.client_secret)
    second = await resign(client, db, token)
    spellings = [token, second, *respellings(token).values()]
    # Each spelling is tried before the end (so anything that verifies it caches it), then after.
    for spelling in spellings:
        await call(client, spelling)
        await client.get(SA_PATH.format(org=org_id) + f"/{account.client_id}", headers=_bearer(spelling))
    assert (await call(client, token)).status_code == 200
    assert (await call(client, second)).status_code == 200
    await ender(client, account, token)
    for spelling in spellings:
        assert_invalid_token(await call(client, spelling))
        read = await client.get(SA_PATH.format(org=org_id) + f"/{account.client_id}", headers=_bearer(spelling))
        assert read.status_code == 401, read.text


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
