"""The token endpoint's hot path: client authentication from the client cache, and group commit of minted tokens.

A mint writes three things: the ``access_tokens`` row (what makes the token valid), the secret's ``lastUsedAt``,
and the pruning that keeps an account at 100 unexpired tokens. Written one request per transaction, every token
costs a commit, and on SQLite with ``synchronous=FULL`` a commit is an ``fsync``. :class:`MintBatcher` writes the
mints of every request that arrived while the previous batch was committing in one transaction instead (group
commit): each request waits for the commit of its own batch before it signs and answers, so an acknowledged token is
durable, exactly as before. One batch is in flight at a time per process; under load a batch holds as many mints as
arrived during one commit, and with a single request it is a transaction of one.

Inside the batch transaction, as :meth:`OAuthService.issue_token` does for one: the accounts are locked (``FOR
UPDATE`` on PostgreSQL, in id order; SQLite's write lock serialises writers already), each mint's secret must
still exist and be unexpired (a secret deleted after the cache answered refuses its mints with ``invalid_client``),
and the active signing key is read from the database, so a rotation stops signing at once.

Sync or async, deliberately: ``async def`` throughout. The waiting is on the database, which the async drivers
already overlap; the CPU work (two HMACs, one ES256 signature, ~0.2 ms) is too short to pay a thread hop, and the
process is pinned to one core anyway.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.auth.cache import EXEMPT, CachedClient, CachedSecret, auth_caches, stage_keys, token_key
from atlas_sa.auth.repository import CredentialRepository, SigningKeyRepository
from atlas_sa.auth.service import (
    MAX_ACTIVE_TOKENS,
    ClientCredentials,
    InvalidClient,
    IssuedToken,
    ServerError,
    candidate_secret,
)
from atlas_sa.auth.signing import TOKEN_LIFETIME, ActiveKey, key_ring
from atlas_sa.auth.tokens import encode, new_jti
from atlas_sa.kit.ids import is_client_id
from atlas_sa.kit.state import AppState
from atlas_sa.models import AccessToken, ServiceAccount, ServiceAccountSecret

log = logging.getLogger("atlas_sa.auth.minting")

# Every authentication compares the presented secret with this many stored hashes (an account holds at most two
# secrets), whether the client id is known or not, so response time does not tell which client ids exist.
_COMPARISONS = 2
_DUMMY_HASH = "0" * 64


@dataclass(slots=True)
class _Mint:
    account_id: str
    secret_id: str
    jti: str
    now: datetime
    done: asyncio.Future[ActiveKey] = field(repr=False)


class MintBatcher:
    def __init__(self, state: AppState) -> None:
        self.state = state
        self._queue: list[_Mint] = []
        self._task: asyncio.Task[None] | None = None

    async def mint(self, account_id: str, secret_id: str, jti: str, now: datetime) -> ActiveKey:
        """Record the token and wait until it is committed; the key to sign it with. ``InvalidClient`` when the
        secret went away (or expired) before the batch committed."""
        done: asyncio.Future[ActiveKey] = asyncio.get_running_loop().create_future()
        self._queue.append(_Mint(account_id, secret_id, jti, now, done))
        if self._task is None or self._task.done():
            # The writer lives only while there is work, so no task outlives the requests that need it.
            self._task = asyncio.create_task(self._drain(), name="atlas-sa-mint-batcher")
        return await done

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._commit(batch)
            except Exception as exc:  # noqa: BLE001 - one bad mint must not fail its neighbours
                if len(batch) == 1:
                    _settle_error(batch[0], exc)
                    continue
                log.warning("mint batch of %d failed (%s); retrying one by one", len(batch), type(exc).__name__)
                for one in batch:
                    try:
                        await self._commit([one])
                    except Exception as single:  # noqa: BLE001
                        _settle_error(one, single)

    async def _commit(self, batch: list[_Mint]) -> None:
        state = self.state
        results: list[tuple[_Mint, ActiveKey | None]] = []
        async with state.db.unit_of_work(write=True) as session:
            accounts = sorted({m.account_id for m in batch})
            if not state.db.is_sqlite:
                # Serialises mints of one account across instances (the 100-token cap) and orders them after any
                # concurrent secret or account deletion, which lock the same row.
                await session.execute(
                    select(ServiceAccount.id)
                    .where(ServiceAccount.id.in_(accounts))
                    .order_by(ServiceAccount.id)
                    .with_for_update()
                )
            live = dict(
                (
                    await session.execute(
                        select(ServiceAccountSecret.id, ServiceAccountSecret.expires_at).where(
                            ServiceAccountSecret.id.in_({m.secret_id for m in batch}),
                            ServiceAccountSecret.service_account_id.in_(accounts),
                        )
                    )
                ).all()
            )
            accepted = [m for m in batch if m.secret_id in live and live[m.secret_id] > m.now]
            if accepted:
                latest = max(m.now for m in accepted)
                key = await key_ring(state).signing_key(SigningKeyRepository(session), latest)
                await _write(session, accepted, latest)
                accepted_ids = {id(m) for m in accepted}
                results = [(m, key if id(m) in accepted_ids else None) for m in batch]
            else:
                results = [(m, None) for m in batch]
        # Committed: only now may any request answer.
        for mint, signing_key in results:
            if mint.done.done():
                continue
            if signing_key is None:
                mint.done.set_exception(InvalidClient())
            else:
                mint.done.set_result(signing_key)


async def _write(session: AsyncSession, mints: list[_Mint], latest: datetime) -> None:
    await session.execute(
        insert(AccessToken),
        [
            {
                "jti": m.jti,
                "service_account_id": m.account_id,
                "secret_id": m.secret_id,
                "issued_at": m.now,
                "expires_at": m.now + TOKEN_LIFETIME,
            }
            for m in mints
        ],
    )
    last_used: dict[str, datetime] = {}
    for m in mints:
        last_used[m.secret_id] = max(m.now, last_used.get(m.secret_id, m.now))
    for secret_id, when in last_used.items():
        # No cache holds lastUsedAt: exempt from invalidation (see atlas_sa.auth.cache).
        await session.execute(
            update(ServiceAccountSecret)
            .where(ServiceAccountSecret.id == secret_id)
            .values(last_used_at=when)
            .execution_options(**{EXEMPT: True})
        )
    accounts = sorted({m.account_id for m in mints})
    # Expired tokens fail on their own ``exp`` wherever they are cached: no invalidation needed.
    await session.execute(
        delete(AccessToken)
        .where(AccessToken.service_account_id.in_(accounts), AccessToken.expires_at <= latest)
        .execution_options(**{EXEMPT: True})
    )
    rank = (
        func.row_number()
        .over(
            partition_by=AccessToken.service_account_id,
            order_by=(AccessToken.issued_at.desc(), AccessToken.expires_at.desc(), AccessToken.jti.desc()),
        )
        .label("rank")
    )
    ranked = select(AccessToken.jti, rank).where(AccessToken.service_account_id.in_(accounts)).subquery()
    surplus = list(
        (await session.execute(select(ranked.c.jti).where(ranked.c.rank > MAX_ACTIVE_TOKENS))).scalars().all()
    )
    if surplus:
        await session.execute(
            delete(AccessToken).where(AccessToken.jti.in_(surplus)).execution_options(**{EXEMPT: True})
        )
        # The oldest tokens are revoked: every instance must forget them.
        stage_keys(session.sync_session, [token_key(jti) for jti in surplus])


def _settle_error(mint: _Mint, exc: Exception) -> None:
    if not mint.done.done():
        log.error("mint failed: %s", type(exc).__name__)
        mint.done.set_exception(ServerError())


_BATCHER = "auth.mint_batcher"


def mint_batcher(state: AppState) -> MintBatcher:
    batcher = state.extras.get(_BATCHER)
    if batcher is None:
        batcher = state.extras[_BATCHER] = MintBatcher(state)
    assert isinstance(batcher, MintBatcher)
    return batcher


async def _load_client(state: AppState, client_id: str) -> CachedClient | None:
    async with state.db.unit_of_work(write=False) as session:
        credentials = CredentialRepository(session)
        account = await credentials.account_by_client_id(client_id)
        stored = await credentials.secrets_of(account.id if account is not None else "")
    if account is None:
        return None
    return CachedClient(
        account.id,
        account.client_id,
        account.org_id,
        tuple(CachedSecret(s.id, s.secret_hash, s.expires_at) for s in stored),
    )


async def authenticate_cached(state: AppState, presented: ClientCredentials | None) -> tuple[str, str, str]:
    """``(account id, client id, secret id)`` of the client, from the client cache (filled on a miss), or
    ``invalid_client``. The same comparisons for known, unknown and malformed client ids."""
    if presented is None:
        raise InvalidClient
    secret = candidate_secret(presented.client_secret)
    caches = auth_caches(state)
    client: CachedClient | None = None
    if is_client_id(presented.client_id):
        found, client = caches.client(presented.client_id)
        if not found:
            epoch = caches.epoch
            client = await _load_client(state, presented.client_id)
            caches.put_client(presented.client_id, client, epoch)
    else:
        # Not cached (anyone can send any string); the same lookup as an unknown id, of an id nothing has.
        await _load_client(state, "")
    now = state.clock.now()
    candidates: list[CachedSecret | None] = [s for s in (client.secrets if client else ()) if s.expires_at > now]
    candidates += [None] * (_COMPARISONS - len(candidates))
    presented_hash = state.keys.hash_secret(secret)
    matched: CachedSecret | None = None
    for candidate in candidates:
        # No early exit: every candidate is compared, each in constant time.
        ok = hmac.compare_digest(presented_hash, candidate.secret_hash if candidate else _DUMMY_HASH)
        if ok and candidate is not None and secret and matched is None:
            matched = candidate
    if client is None or matched is None:
        raise InvalidClient
    return client.account_id, client.client_id, matched.id


async def issue_token(state: AppState, presented: ClientCredentials | None) -> IssuedToken:
    """RFC 6749 §4.4 client-credentials grant, as :meth:`OAuthService.issue_token` but authenticated from the
    client cache and written by the batcher."""
    account_id, client_id, secret_id = await authenticate_cached(state, presented)
    now = state.clock.now()
    jti = new_jti()
    key = await mint_batcher(state).mint(account_id, secret_id, jti, now)
    token = encode(
        key, issuer=state.settings.issuer_url, client_id=client_id, secret_id=secret_id, jti=jti, issued_at=now
    )
    return IssuedToken(access_token=token, expires_in=int(TOKEN_LIFETIME.total_seconds()))
