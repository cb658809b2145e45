"""Brute-force protection (RFC 6749 §2.3.1) for client authentication and Digest, on the buckets of
:mod:`atlas_sa.auth.ratelimits`.

Client authentication at the token, revocation and introspection endpoints and Digest authentication go through the
app's :class:`BruteForceGuard` (built once by ``create_app``, :mod:`atlas_sa.auth.core`), one :class:`AuthGuard` per
attempt. Each failure takes a token from three buckets that refill over the lockout window: (client id, address),
address, and client id. Once a (client id, address) has failed a few times, each further failure is answered after a
delay; once any of the three is empty, attempts are refused with 429 before the credential is even checked (so a lucky
guess during a lockout gains nothing). The legitimate client is not locked out by someone else's failures: the (client
id, address) and address buckets are the attacker's own, and the client-id bucket (a distributed attack on one client)
is not consulted for an address that succeeded for that client in the last 24 hours. A success is remembered in a
one-token bucket emptied at each recording, so "recently succeeded" lives in the same store as the buckets and is shared
across instances on PostgreSQL.

**Where the guard looks.** Before an attempt, in this instance's memory of the lockouts (:mod:`atlas_sa.auth.lockouts`,
which also keeps the instances sharing a PostgreSQL told of each other's), or in the store while that memory may be
incomplete; the store itself only on failures. A success is recorded in the store at most once per (client,
address) every :data:`KNOWN_REFRESH_SECONDS` per instance (this instance remembers when it last did), which keeps
"succeeded in the last 24 hours" true to within those minutes; the store is read for it only while the client id is
locked out.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from atlas_sa.auth.failures import authentication_failed, locked_out, lockout_begun
from atlas_sa.auth.lockouts import Lockout, Lockouts
from atlas_sa.auth.ratelimits import (
    KNOWN,
    KNOWN_ADDRESS_SECONDS,
    RateLimits,
    TokenRateLimited,
    bucket_key,
)
from atlas_sa.errors import RateLimitedTokenBucket
from atlas_sa.kit.addresses import client_address
from atlas_sa.kit.buckets import Policy
from atlas_sa.kit.state import AppState

if TYPE_CHECKING:
    from atlas_sa.auth.service import ClientCredentials

# How stale the store's record of a (client, address) success may get: one write per pair per instance this often.
KNOWN_REFRESH_SECONDS = 600


def _wait(tokens: float, policy: Policy) -> int:
    return max(1, math.ceil((1 - tokens) / policy.rate))


class TokenLockedOut(TokenRateLimited):
    """The token endpoint's 429 during a brute-force lockout (the same answer; counted apart)."""


class DigestLocked(RateLimitedTokenBucket):
    def headers(self) -> dict[str, str]:
        return {**super().headers(), "RateLimit-Limit": str(self.parameters[2]), "RateLimit-Remaining": "0"}


class BruteForceGuard:
    """The brute-force guard of one app: the failure buckets in the rate limits' store, and this instance's
    :class:`Lockouts`. Built once by :func:`atlas_sa.auth.core.build_auth_core`."""

    def __init__(self, state: AppState, limits: RateLimits) -> None:
        self.settings = state.settings
        self.limits = limits
        self.lockouts = Lockouts(state, limits.store, limits.policies)

    async def check(self, scope: Scope, kind: str, client: str) -> AuthGuard:
        """The guard for this attempt; 429 when the client, the address or the pair is locked out."""
        settings = self.settings
        address = client_address(settings.trusted_proxies, scope)
        guard = AuthGuard(self, kind, client, address, scope["path"], settings.auth_throttle_enabled)
        if guard.enabled:
            await guard._refuse_if_locked()
        return guard

    @asynccontextmanager
    async def client_authentication(self, scope: Scope, presented: ClientCredentials | None) -> AsyncIterator[None]:
        """Around an OAuth endpoint's client authentication: the brute-force lockout before, and the failure or
        success after (``invalid_client`` is the failure)."""
        from atlas_sa.auth.service import InvalidClient  # noqa: PLC0415 - keeps this module free of the OAuth service

        client = presented.client_id if presented is not None else ""
        guard = await self.check(scope, "oauth", client)
        try:
            yield
        except InvalidClient:
            await guard.failed()
            raise
        await guard.succeeded()

    async def close(self) -> None:
        await self.lockouts.close()


@dataclass
class AuthGuard:
    """One authentication attempt by ``client`` (a client id or API public key) from ``address``."""

    owner: BruteForceGuard
    kind: str
    client: str
    address: str
    path: str
    enabled: bool

    def _keys(self) -> list[tuple[str, Policy]]:
        # Narrowest first, always in this order: SqlBuckets.take_all relies on one order across transactions.
        table = self.owner.limits.policies
        return [
            (bucket_key("bf", self.kind, "pair", self.client, self.address, fixed=3), table.failures_per_pair),
            (bucket_key("bf", self.kind, "address", self.address, fixed=3), table.failures_per_address),
            (bucket_key("bf", self.kind, "client", self.client, fixed=3), table.failures_per_client),
        ]

    def _known_key(self) -> str:
        return bucket_key("bf", self.kind, "known", self.client, self.address, fixed=3)

    async def _refuse_if_locked(self) -> None:
        held, now = self.owner.lockouts, self.owner.limits.now()
        if not held.complete(now):
            await self._refuse_if_locked_in_store(now)
            return
        if not held.holds_any():
            # The usual case: nothing is locked out, so the bucket keys need not be built.
            return
        for key, policy in self._keys():
            lockout = held.locked(key, now)
            if lockout is None:
                continue
            if policy.name == "fail-client" and await self._known_address(held, now):
                # The client id is under attack from elsewhere; this address recently proved it holds the secret.
                continue
            raise self._refusal(policy, lockout.retry_after(now))

    async def _known_address(self, held: Lockouts, now: float) -> bool:
        key = self._known_key()
        if held.recorded_within(key, now, KNOWN_ADDRESS_SECONDS):
            return True
        return await self.owner.limits.store.peek(key, KNOWN, now) < 1

    async def _refuse_if_locked_in_store(self, now: float) -> None:
        store = self.owner.limits.store
        for key, policy in self._keys():
            tokens = await store.peek(key, policy, now)
            if tokens >= 1:
                continue
            if policy.name == "fail-client" and await store.peek(self._known_key(), KNOWN, now) < 1:
                continue
            raise self._refusal(policy, _wait(tokens, policy))

    def _refusal(self, policy: Policy, retry_after: int) -> Exception:
        locked_out(self.kind, policy.name.removeprefix("fail-"), self.client, self.address)
        if self.kind == "digest":
            return DigestLocked(self.path.lstrip("/"), retry_after, policy.capacity, policy.refill, policy.period)
        return TokenLockedOut(policy, retry_after)

    async def failed(self, session: AsyncSession | None = None) -> None:
        """Count a failure; answer it late once this client has failed from this address a few times. A request's
        ``session`` is rolled back first: the delay must not hold a connection or SQLite's write lock."""
        authentication_failed(self.kind, self.client, self.address)
        if not self.enabled:
            return
        limits, settings = self.owner.limits, self.owner.settings
        now = limits.now()
        wanted = self._keys()
        decisions = await limits.store.take_all(wanted, now)
        emptied = [
            (key, Lockout(decision.tokens, now, policy.rate))
            for (key, policy), decision in zip(wanted, decisions, strict=True)
            if decision.tokens < 1
        ]
        for (_key, policy), decision in zip(wanted, decisions, strict=True):
            if decision.allowed and decision.tokens < 1:  # this failure took the bucket's last token
                lockout_begun(self.kind, policy.name.removeprefix("fail-"), self.client, self.address)
        await self.owner.lockouts.announce(emptied)
        failures = limits.policies.failures_per_pair.capacity - decisions[0].remaining
        if failures > settings.auth_failures_before_delay:
            if session is not None:
                await session.rollback()
            await asyncio.sleep(settings.auth_failure_delay_seconds)

    async def succeeded(self) -> None:
        """Remember that this address holds the client's credential (exempts it from the client-id lockout)."""
        if not self.enabled:
            return
        held, key, now = self.owner.lockouts, self._known_key(), self.owner.limits.now()
        if held.recorded_within(key, now, KNOWN_REFRESH_SECONDS):
            return
        await self.owner.limits.store.drain(key, KNOWN, now)
        held.note_recorded(key, now)
