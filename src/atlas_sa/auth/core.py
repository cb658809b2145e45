"""The authentication collaborators of one app, typed and built once by ``create_app`` (:func:`build_auth_core`).

Each holds per-process state that must be one per app: parsed signing keys, the authentication caches, the
rate-limit buckets, the brute-force lockouts, the mint and access-list-counter group commits, Digest's nonce key and
replay table. Built at start-up, not on first use, so that every request meets the same objects, a lockout
announcement is heard from the moment the invalidation listener runs, and the lifespan can close what holds tasks
(:meth:`AuthCore.close`) before the database is disposed. ``create_app`` hands the core to what needs it: the
:class:`~atlas_sa.auth.dependencies.RequestAuthenticator`, and as ``app.state.auth`` to the OAuth endpoints
(:func:`auth_core`).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from atlas_sa.auth.bruteforce import BruteForceGuard
from atlas_sa.auth.cache import AuthCaches
from atlas_sa.auth.digest import DigestAuth
from atlas_sa.auth.minting import MintBatcher
from atlas_sa.auth.network import UsageCounter
from atlas_sa.auth.ratelimits import Policies, RateLimits, bucket_store
from atlas_sa.auth.signing import KeyRing
from atlas_sa.changes import follow
from atlas_sa.kit.state import AppState


@dataclass(frozen=True, slots=True)
class AuthCore:
    ring: KeyRing
    caches: AuthCaches
    limits: RateLimits
    guard: BruteForceGuard
    digest: DigestAuth
    mints: MintBatcher
    usage: UsageCounter

    async def close(self) -> None:
        """Settle what holds tasks: a lockout read-back in flight, the batches being committed."""
        await self.guard.close()
        await self.mints.close()
        await self.usage.close()


def build_auth_core(state: AppState) -> AuthCore:
    table = Policies.from_settings(state.settings)
    ring = KeyRing(state.keys)
    limits = RateLimits(state.settings, state.clock, table, bucket_store(state.settings, state.db, table))
    guard = BruteForceGuard(state, limits)
    # Fresh, and from now on dropping whatever a commit here or on another instance changes (atlas_sa.changes).
    caches = AuthCaches()
    follow(state.bus, caches)
    return AuthCore(
        ring=ring,
        caches=caches,
        limits=limits,
        guard=guard,
        digest=DigestAuth(state, guard),
        mints=MintBatcher(state, ring),
        usage=UsageCounter(state),
    )


def auth_core(connection: HTTPConnection) -> AuthCore:
    """The app's core, as ``create_app`` set it."""
    core: AuthCore = connection.app.state.auth
    return core
