"""The token endpoint's hot path: client authentication from the client cache, and group commit of minted tokens.

A mint writes three things: the ``access_tokens`` row (what makes the token valid), the secret's ``lastUsedAt``,
and the pruning that keeps an account at 100 unexpired tokens. Written one request per transaction, every token
costs a commit, and on SQLite with ``synchronous=FULL`` a commit is an ``fsync``. :class:`MintBatcher` writes the
mints of every request that arrived while the previous batch was committing in one transaction instead (group
commit): each request waits for the commit of its own batch before it signs and answers, so an acknowledged token is
durable, exactly as before. One batch is in flight at a time per process; under load a batch holds as many mints as
arrived during one commit, and with a single request it is a transaction of one.

Inside the batch transaction the accounts are locked (``FOR
UPDATE`` on PostgreSQL, in id order; SQLite's write lock serialises writers already), each mint's secret must
still exist and be unexpired (a secret deleted after the cache answered refuses its mints with ``invalid_client``),
and the active signing key is read from the database, so a rotation stops signing at once.

The batching is :class:`~atlas_sa.kit.groupcommit.GroupCommit`, shared with the access-list counters. The batch
costs the same few statements whatever its size, each built once at import: read (and on PostgreSQL lock) the
secrets with the active key's kid, insert the tokens, write ``lastUsedAt`` when it changed, and prune every account
of the batch with one ``DELETE ... RETURNING``. A statement costs 0.4-0.7 ms of CPU on the
benchmark machine, most of it SQLAlchemy's execution and the driver's round trip (on SQLite, hops to aiosqlite's
thread) rather than the database's own work, so their number is what matters.

Sync or async, deliberately: ``async def`` throughout. The waiting is on the database, which the async drivers
already overlap; the CPU work (two HMACs, one ES256 signature, ~0.2 ms) is too short to pay a thread hop, and the
process is pinned to one core anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ARRAY, Insert, String, TableValuedAlias, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.auth.cache import AuthCaches, CachedClient, CachedSecret
from atlas_sa.auth.repository import CredentialRepository, SigningKeyRepository
from atlas_sa.auth.service import (
    MAX_ACTIVE_TOKENS,
    ClientCredentials,
    InvalidClient,
    IssuedToken,
    ServerError,
    candidate_secret,
    matching_secret,
)
from atlas_sa.auth.signing import TOKEN_LIFETIME, ActiveKey, KeyRing
from atlas_sa.auth.tokens import encode, new_jti
from atlas_sa.changes import naming, stage, token_key, view_key
from atlas_sa.kit.groupcommit import GroupCommit, Pending
from atlas_sa.kit.ids import is_client_id
from atlas_sa.kit.state import AppState
from atlas_sa.models import AccessToken, Base, ServiceAccount, ServiceAccountSecret, SigningKey

log = logging.getLogger("atlas_sa.auth.minting")

# The batch's statements, built once: building and compiling them per batch (coercions, cache keys) cost more CPU
# than running them. Core statements on the tables, so no ORM compile step runs at execution; lists are expanding
# parameters.
_ACCOUNTS = Base.metadata.tables[ServiceAccount.__tablename__]
_SECRETS = Base.metadata.tables[ServiceAccountSecret.__tablename__]
_TOKENS = Base.metadata.tables[AccessToken.__tablename__]
_SIGNING_KEYS = Base.metadata.tables[SigningKey.__tablename__]

_ACTIVE_KID = (
    select(_SIGNING_KEYS.c.kid)
    .where(_SIGNING_KEYS.c.retired_at.is_(None))
    .order_by(_SIGNING_KEYS.c.created_at.desc(), _SIGNING_KEYS.c.kid)
    .limit(1)
    .scalar_subquery()
)
# The secrets still there and the active signing key's kid, in one round trip, which on PostgreSQL also locks the
# batch's accounts (SQLite renders no FOR UPDATE). The lock serialises mints of one account across instances (the
# 100-token cap) and orders the batch after a concurrent deletion of a secret or an account. PostgreSQL locks each
# result row's tables in FROM order, account then secret, the order every writer of secrets takes them, and
# accounts in id order; a row deleted while we waited for its lock drops out of the result, because PostgreSQL
# re-reads the rows it locks after a wait (so the secrets' rows are locked too: a joined row it did not lock would
# come back as read before the wait). The kid is of the statement's snapshot: a key rotation committed during a lock
# wait applies from the next batch on (the retired key still verifies).
_LIVE_SECRETS = (
    select(
        _SECRETS.c.id,
        _SECRETS.c.service_account_id,
        _SECRETS.c.expires_at,
        _SECRETS.c.last_used_at,
        _ACTIVE_KID.label("active_kid"),
    )
    .select_from(_ACCOUNTS.join(_SECRETS, _SECRETS.c.service_account_id == _ACCOUNTS.c.id))
    .where(_SECRETS.c.id.in_(bindparam("secret_ids", expanding=True)))
    .order_by(_ACCOUNTS.c.id, _SECRETS.c.id)
    .with_for_update()
)
_TOKEN_COLUMNS = ("jti", "service_account_id", "secret_id", "issued_at", "expires_at")


def _insert_tokens(jtis: TableValuedAlias) -> Insert:
    """The tokens of one (account, secret, second) of the batch, which differ only by ``jti``: the jtis travel as
    one parameter, so the per-row parameter processing (two datetimes each) runs once per group, not per token."""
    row = (bindparam(name, type_=_TOKENS.c[name].type) for name in _TOKEN_COLUMNS[1:])
    return insert(_TOKENS).from_select(_TOKEN_COLUMNS, select(jtis.c.value, *row))


# The jtis as a JSON array on SQLite (its JSON functions are built in since 3.38), as a text[] on PostgreSQL.
_INSERT_TOKENS_SQLITE = _insert_tokens(func.json_each(bindparam("jtis", type_=String)).table_valued("value"))
_INSERT_TOKENS_POSTGRES = _insert_tokens(
    func.unnest(bindparam("jtis", type_=ARRAY(String))).table_valued("value").render_derived()
)
# Names no key itself (atlas_sa.changes): the one cache holding lastUsedAt, the views, is told by
# ``_last_used_changed``. Executed with one parameter set per secret.
_MARK_USED = (
    update(_SECRETS)
    .where(_SECRETS.c.id == bindparam("secret_id"))
    .values(last_used_at=bindparam("used_at"))
    .execution_options(**naming())
)
_RANKED = (
    select(
        _TOKENS.c.jti,
        func.row_number()
        .over(
            partition_by=_TOKENS.c.service_account_id,
            order_by=(_TOKENS.c.issued_at.desc(), _TOKENS.c.expires_at.desc(), _TOKENS.c.jti.desc()),
        )
        .label("rank"),
    )
    .where(
        _TOKENS.c.service_account_id.in_(bindparam("account_ids", expanding=True)),
        _TOKENS.c.expires_at > bindparam("now"),
    )
    .subquery("ranked")
)
# Every account of the batch in one statement: its expired tokens and, of its unexpired ones, all but the newest
# ``keep``. RETURNING (SQLite >= 3.35) names the rows it deleted, so no select runs first, and the caller
# stages the revoked tokens' keys from it.
_PRUNE = (
    delete(_TOKENS)
    .where(
        _TOKENS.c.service_account_id.in_(bindparam("account_ids", expanding=True)),
        or_(
            _TOKENS.c.expires_at <= bindparam("now"),
            _TOKENS.c.jti.in_(select(_RANKED.c.jti).where(_RANKED.c.rank > bindparam("keep"))),
        ),
    )
    .returning(_TOKENS.c.jti, (_TOKENS.c.expires_at > bindparam("now")).label("unexpired"))
    .execution_options(**naming())
)


@dataclass(slots=True)
class _Mint:
    account_id: str
    secret_id: str
    jti: str
    now: datetime


class _Secret(NamedTuple):
    account_id: str
    expires_at: datetime
    last_used_at: datetime | None


class MintBatcher:
    """The app's group commit of minted tokens (this module's docstring); built once by
    :func:`atlas_sa.auth.core.build_auth_core`."""

    def __init__(self, state: AppState, ring: KeyRing) -> None:
        self.state = state
        self._ring = ring
        self._writes: GroupCommit[_Mint, ActiveKey] = GroupCommit(
            self._commit, _settle_error, name="atlas-sa-mint-batcher", retry_singly=True
        )
        self._key: ActiveKey | None = None

    async def mint(self, account_id: str, secret_id: str, jti: str, now: datetime) -> ActiveKey:
        """Record the token and wait until it is committed; the key to sign it with. ``InvalidClient`` when the
        secret went away (or expired) before the batch committed."""
        return await self._writes.submit(_Mint(account_id, secret_id, jti, now))

    async def close(self) -> None:
        await self._writes.close()

    async def _commit(self, pending: list[Pending[_Mint, ActiveKey]]) -> None:
        state = self.state
        batch = [p.item for p in pending]
        signing_key: ActiveKey | None = None
        accepted: list[_Mint] = []
        async with state.db.unit_of_work(write=True) as session:
            rows = (await session.execute(_LIVE_SECRETS, {"secret_ids": list({m.secret_id for m in batch})})).all()
            live = {row.id: _Secret(row.service_account_id, row.expires_at, row.last_used_at) for row in rows}
            accepted = [m for m in batch if _still_valid(live.get(m.secret_id), m)]
            if accepted:
                latest = max(m.now for m in accepted)
                signing_key = await self._signing_key(session, rows[0].active_kid, latest)
                await _write(session, accepted, live, latest, sqlite=state.db.is_sqlite)
        # Committed: only now may any request answer.
        accepted_ids = {id(m) for m in accepted}
        for one in pending:
            if one.done.done():
                continue
            if signing_key is None or id(one.item) not in accepted_ids:
                one.done.set_exception(InvalidClient())
            else:
                one.done.set_result(signing_key)

    async def _signing_key(self, session: AsyncSession, active_kid: str | None, now: datetime) -> ActiveKey:
        """The active key; its kid was read in this transaction, so a rotation stops signing at once. The ring is
        asked (an ORM load of the key's row) only when the kid is new to this batcher or there is no key yet."""
        known = self._key
        if known is None or known.kid != active_kid:
            known = self._key = await self._ring.signing_key(SigningKeyRepository(session), now)
        return known


def _still_valid(secret: _Secret | None, mint: _Mint) -> bool:
    """The secret still exists, belongs to the mint's account and is unexpired at the mint's time."""
    return secret is not None and secret.account_id == mint.account_id and secret.expires_at > mint.now


async def _write(
    session: AsyncSession, mints: list[_Mint], secrets: dict[str, _Secret], latest: datetime, *, sqlite: bool
) -> None:
    groups: dict[tuple[str, str, datetime], list[str]] = {}
    last_used: dict[str, datetime] = {}
    for m in mints:
        groups.setdefault((m.account_id, m.secret_id, m.now), []).append(m.jti)
        last_used[m.secret_id] = max(m.now, last_used.get(m.secret_id, m.now))
    await session.execute(
        _INSERT_TOKENS_SQLITE if sqlite else _INSERT_TOKENS_POSTGRES,
        [
            {
                "jtis": json.dumps(jtis) if sqlite else jtis,
                "service_account_id": account_id,
                "secret_id": secret_id,
                "issued_at": now,
                "expires_at": now + TOKEN_LIFETIME,
            }
            for (account_id, secret_id, now), jtis in groups.items()
        ],
    )
    # ``lastUsedAt`` has the clock's second precision: under load most batches fall in a second an earlier batch
    # already wrote, and rewriting the same value would cost a statement. The value read above cannot have changed
    # since: the transaction holds SQLite's write lock, or on PostgreSQL the secrets' rows.
    changed = {secret_id: when for secret_id, when in last_used.items() if secrets[secret_id].last_used_at != when}
    if changed:
        await session.execute(_MARK_USED, [{"secret_id": sid, "used_at": when} for sid, when in changed.items()])
        _last_used_changed(session, {secrets[secret_id].account_id for secret_id in changed})
    accounts = sorted({m.account_id for m in mints})
    pruned = await session.execute(_PRUNE, {"account_ids": accounts, "now": latest, "keep": MAX_ACTIVE_TOKENS})
    # The unexpired tokens dropped are revoked: every instance must forget them. Expired ones fail on their own
    # ``exp`` wherever they are cached. ``hot``: a token request appends nothing to SQLite's change log (its one
    # serving process is this one, which drops them at the commit); PostgreSQL's instances are notified.
    revoked = [token_key(jti) for jti, unexpired in pruned if unexpired]
    if revoked:
        stage(session, revoked, hot=True)


def _last_used_changed(session: AsyncSession, account_ids: Iterable[str]) -> None:
    """The hook point for caches that hold a secret's ``lastUsedAt``, called with the accounts whose secrets' value
    this batch changed (the batch's own write names no key): their ``v`` keys drop the cached
    ``getOrgServiceAccount`` views, here and, published with the commit, on every PostgreSQL instance."""
    stage(session, [view_key(account_id) for account_id in account_ids], hot=True)


def _settle_error(mint: Pending[_Mint, ActiveKey], exc: Exception) -> None:
    log.error("mint failed: %s", type(exc).__name__)
    mint.done.set_exception(ServerError())


async def _load_client(state: AppState, client_id: str) -> CachedClient | None:
    async with state.db.unit_of_work(write=False) as session:
        rows = await CredentialRepository(session).client_secrets(client_id)
    if not rows:
        return None
    secrets = tuple(
        CachedSecret(r.secret_id, r.secret_hash, r.expires_at)
        for r in rows
        if r.secret_id is not None and r.secret_hash is not None and r.expires_at is not None
    )
    return CachedClient(rows[0].account_id, rows[0].client_id, rows[0].org_id, secrets)


async def authenticate_cached(
    state: AppState, caches: AuthCaches, presented: ClientCredentials | None
) -> tuple[str, str, str]:
    """``(account id, client id, secret id)`` of the client, or ``invalid_client``.

    A secret that matches the client cache is accepted from memory; every other answer is the database's. So every
    failure costs the same, whatever the client id: one cache lookup, one HMAC, two comparisons against the cached
    client (or dummies), one read of the account and its secrets, two more comparisons. A known id that
    authenticated a moment ago, an id never seen and a malformed one (looked up as the empty id, which nothing
    has) are answered alike (``tests/auth/test_equal_work.py`` counts the work; ``bench/timing.py`` times it).
    Unknown ids are not cached: a miss must cost what a mismatch costs, and a flood of invented ids must not
    evict real clients. A mismatch read from the database also catches a secret added on another instance before
    its invalidation arrived here."""
    if presented is None:
        raise InvalidClient
    secret = candidate_secret(presented.client_secret)
    lookup = presented.client_id if is_client_id(presented.client_id) else ""
    now = state.clock.now()
    presented_hash = state.keys.hash_secret(secret)
    cached = caches.client(lookup)
    matched = matching_secret(cached.secrets if cached else (), presented_hash, secret, now)
    if cached is not None and matched is not None:
        return cached.account_id, cached.client_id, matched.id
    epoch = caches.epoch
    loaded = await _load_client(state, lookup)
    matched = matching_secret(loaded.secrets if loaded else (), presented_hash, secret, now)
    if loaded is None or matched is None:
        raise InvalidClient
    caches.put_client(lookup, loaded, epoch)
    return loaded.account_id, loaded.client_id, matched.id


async def issue_token(
    state: AppState, batcher: MintBatcher, account_id: str, client_id: str, secret_id: str
) -> IssuedToken:
    """RFC 6749 §4.4 client-credentials grant for a client :func:`authenticate_cached` authenticated, as
    written by the batcher."""
    now = state.clock.now()
    jti = new_jti()
    key = await batcher.mint(account_id, secret_id, jti, now)
    token = encode(
        key, issuer=state.settings.issuer_url, client_id=client_id, secret_id=secret_id, jti=jti, issued_at=now
    )
    return IssuedToken(access_token=token, expires_in=int(TOKEN_LIFETIME.total_seconds()))
