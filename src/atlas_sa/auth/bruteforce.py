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

**Where the guard looks** (:class:`Lockouts`). Successes are the hot path and failures are rare, so the guard asks
the store only on failures. A failure takes its three tokens in one transaction; a bucket it leaves empty becomes a
lockout (key, level, time, refill rate) that this instance keeps in memory and, on PostgreSQL, announces to the
others with ``pg_notify`` (:mod:`atlas_sa.kit.events`, topic :data:`TOPIC`), which deliver it in milliseconds. The
check before an attempt then reads memory only. Nothing else empties a failure bucket, and a lockout ends by
refilling alone (deleting its row by hand does not end it early in memory), so the lockouts are the whole truth as
long as this instance hears every announcement: when its listener (re)connects, it reads the empty buckets back
from the table once (:meth:`Lockouts.resynchronise`), and until that is done, or while the listener is down or not
started, the check reads the buckets from the table as it always could. A success is recorded in the store at most
once per (client, address) every :data:`KNOWN_REFRESH_SECONDS` per instance (this instance remembers when it last
did), which keeps "succeeded in the last 24 hours" true to within those minutes; the store is read for it only
while the client id is locked out.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from atlas_sa.auth.failures import authentication_failed, locked_out, lockout_begun
from atlas_sa.auth.ratelimits import (
    GUARD_KINDS,
    KNOWN,
    KNOWN_ADDRESS_SECONDS,
    Policies,
    RateLimits,
    TokenRateLimited,
    bucket_key,
)
from atlas_sa.errors import RateLimitedTokenBucket
from atlas_sa.kit.addresses import client_address
from atlas_sa.kit.buckets import BucketStore, Policy, SqlBuckets
from atlas_sa.kit.events import ALL
from atlas_sa.kit.state import AppState

if TYPE_CHECKING:
    from atlas_sa.auth.service import ClientCredentials


log = logging.getLogger("atlas_sa.auth.bruteforce")

# How stale the store's record of a (client, address) success may get: one write per pair per instance this often.
KNOWN_REFRESH_SECONDS = 600
# The invalidation bus's topic for lockouts; the key is a lockout's wire form (:meth:`Lockout.encode`).
TOPIC = "auth-lockout"
# The guards' failure buckets (per kind, :data:`GUARD_KINDS`), which make the key prefixes a resynchronisation
# reads back.
_FAILURE_BUCKETS = ("pair", "address", "client")
_RESYNC_RETRY_SECONDS = 1.0


def _wait(tokens: float, policy: Policy) -> int:
    return max(1, math.ceil((1 - tokens) / policy.rate))


class TokenLockedOut(TokenRateLimited):
    """The token endpoint's 429 during a brute-force lockout (the same answer; counted apart)."""


class DigestLocked(RateLimitedTokenBucket):
    def headers(self) -> dict[str, str]:
        return {**super().headers(), "RateLimit-Limit": str(self.parameters[2]), "RateLimit-Remaining": "0"}


@dataclass(frozen=True, slots=True)
class Lockout:
    """An empty failure bucket: it held ``tokens`` (< 1) at ``at`` and refills at ``rate`` per second."""

    tokens: float
    at: float
    rate: float

    def level(self, now: float) -> float:
        # The stores' own formula (without the cap, which lies above 1), so memory and table agree to the bit.
        return self.tokens + max(0.0, now - self.at) * self.rate

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil((1 - self.level(now)) / self.rate))

    def end(self) -> float:
        """When the bucket holds one token again."""
        return self.at + (1 - self.tokens) / self.rate

    def encode(self, key: str) -> str:
        # Keys hold no spaces (bucket_key hashes anything beyond a few plain characters).
        return f"{key} {self.tokens!r} {self.at!r} {self.rate!r}"

    @classmethod
    def decode(cls, text: str) -> tuple[str, Lockout]:
        key, tokens, at, rate = text.rsplit(" ", 3)
        numbers = float(tokens), float(at), float(rate)
        if not all(math.isfinite(number) for number in numbers) or numbers[2] <= 0:
            raise ValueError(text)
        return key, cls(*numbers)


class Lockouts:
    """The brute-force state one instance keeps in memory: the failure buckets that are empty (learned from its own
    failures, from other instances' announcements, or read back from the store), and when it last recorded each
    (client, address) success in the store. One per app, in its :class:`BruteForceGuard`."""

    def __init__(self, state: AppState, store: BucketStore, table: Policies) -> None:
        self._state = state
        self._policies = table
        self._locked: dict[str, Lockout] = {}
        self._recorded: dict[str, float] = {}
        # At most this many lockouts in memory. Past it, the ended ones go (looked for at most once per lockout
        # end: ``_sweep_at`` is the earliest end among those held); an active one is never forgotten, and one that
        # finds no room is not held: until it ends (``_unheld_until``), the check reads the store, which has it.
        self._max = state.settings.throttle_memory_entries
        self._sweep_at = -math.inf
        self._unheld_until = -math.inf
        # Alone with its memory buckets, an instance has seen every failure; sharing a table, it must be listening.
        self._shared = store if isinstance(store, SqlBuckets) else None
        self._complete = self._shared is None
        self._generation = 0
        self._resync: asyncio.Task[None] | None = None
        self._resync_failed_at = -math.inf
        if self._shared is not None:
            state.bus.subscribe(TOPIC, self._heard)

    # --- lockouts ----------------------------------------------------------------------------------------------

    def complete(self, now: float) -> bool:
        """Whether memory knows every lockout, so the check need not read the store."""
        if now < self._unheld_until:
            return False
        if self._shared is None:
            return True
        if not self._state.bus.connected.is_set():
            return False
        if not self._complete:
            self._start_resync()
        return self._complete

    def holds_any(self) -> bool:
        """Whether any lockout is held at all."""
        return bool(self._locked)

    def locked(self, key: str, now: float) -> Lockout | None:
        lockout = self._locked.get(key)
        if lockout is None:
            return None
        if lockout.level(now) >= 1:
            del self._locked[key]
            return None
        return lockout

    def learn(self, key: str, lockout: Lockout) -> None:
        known = self._locked.get(key)
        if known is not None and known.at > lockout.at:
            return
        if known is None and len(self._locked) >= self._max and not self._make_room(lockout.at):
            self._unheld_until = max(self._unheld_until, lockout.end())
            return
        self._locked[key] = lockout

    def _make_room(self, now: float) -> bool:
        if now >= self._sweep_at:
            for key in [key for key, held in self._locked.items() if held.level(now) >= 1]:
                del self._locked[key]
            self._sweep_at = min((held.end() for held in self._locked.values()), default=-math.inf)
        return len(self._locked) < self._max

    async def announce(self, emptied: Sequence[tuple[str, Lockout]]) -> None:
        """Learn these lockouts here and, on PostgreSQL, tell every other instance."""
        for key, lockout in emptied:
            self.learn(key, lockout)
        if self._shared is None or not emptied:
            return
        async with self._state.db.unit_of_work(write=True) as session:
            for key, lockout in emptied:
                await self._state.bus.stage(session, TOPIC, lockout.encode(key))

    def _heard(self, message: str) -> None:
        if message == ALL:
            # The listener (re)connected: announcements made meanwhile are lost, so read the table again.
            self._generation += 1
            self._complete = False
            self._start_resync()
            return
        try:
            key, lockout = Lockout.decode(message)
        except ValueError:
            log.warning("ignored a malformed lockout announcement")
            return
        self.learn(key, lockout)

    def _start_resync(self) -> None:
        if self._resync is not None or time.monotonic() - self._resync_failed_at < _RESYNC_RETRY_SECONDS:
            return
        self._resync = asyncio.get_running_loop().create_task(self.resynchronise(), name="atlas-sa-lockout-resync")

    async def resynchronise(self) -> None:
        """Read the empty failure buckets back from the table; memory is complete again if the listener stayed
        connected meanwhile (it was listening before the read began, so a lockout committed later is announced)."""
        assert self._shared is not None
        generation = self._generation
        table = self._policies
        by_bucket = {
            "pair": table.failures_per_pair,
            "address": table.failures_per_address,
            "client": table.failures_per_client,
        }
        prefixes = [f"bf:{kind}:{bucket}:" for kind in GUARD_KINDS for bucket in _FAILURE_BUCKETS]
        try:
            rows = await self._shared.below_one(prefixes)
        except Exception as exc:  # noqa: BLE001 - the check reads the store until a later attempt succeeds
            self._resync_failed_at = time.monotonic()
            log.warning("could not read the lockouts back (%s); checking the store meanwhile", type(exc).__name__)
            return
        finally:
            self._resync = None
        now = self._state.clock.now().timestamp()
        for key, tokens, at in rows:
            policy = by_bucket[key.split(":", 3)[2]]
            lockout = Lockout(tokens, at, policy.rate)
            if lockout.level(now) < 1:
                self.learn(key, lockout)
        if generation == self._generation:
            self._complete = True

    async def close(self) -> None:
        """Cancel a read-back in flight (the app's shutdown, before its database is disposed)."""
        task, self._resync = self._resync, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    # --- known addresses -------------------------------------------------------------------------------------

    def recorded_within(self, known_key: str, now: float, seconds: float) -> bool:
        """Whether this instance recorded this success in the store less than ``seconds`` ago."""
        at = self._recorded.get(known_key)
        return at is not None and 0 <= now - at < seconds

    def note_recorded(self, known_key: str, now: float) -> None:
        self._recorded.pop(known_key, None)
        if len(self._recorded) >= self._max:
            # Oldest first: forgetting one costs a second write, never a wrong answer (the store has it).
            for key in list(self._recorded)[: self._max // 2]:
                del self._recorded[key]
        self._recorded[known_key] = now


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
