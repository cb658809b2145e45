"""Request authentication: the app's :class:`~atlas_sa.identity.caller.Authenticator`, which the :data:`Caller`
dependency every ``/api/atlas/v2`` route takes (:mod:`atlas_sa.identity.caller`) calls.

- ``Authorization: Bearer <jwt>``: an access token from ``POST /api/oauth/token`` (:mod:`atlas_sa.auth.tokens`).
- ``Authorization: Digest ...``: a programmatic API key (:mod:`atlas_sa.auth.digest`).
- Anything else, or nothing: 401 ``UNAUTHORIZED`` with a Digest challenge, as Atlas answers.

A service account then passes its IP access list, and an API key its organization's ``apiAccessListRequired``
(:mod:`atlas_sa.auth.network`).

Order of checks, deliberately: the Atlas route wrapper resolves the ``Accept`` version *before* any dependency runs,
so a request with an unusable Accept gets 406 ``INVALID_VERSION_DATE`` whatever its credential. A 406 reveals nothing
about any resource, and refusing it first spares a signature check and a database lookup for a request that cannot
succeed anyway. Among the dependencies the caller comes first, so 401 precedes 404 and body validation (400): an
unauthenticated client learns nothing about which ids exist or what a body should look like.

A bearer token verified once is kept in the principal cache (:mod:`atlas_sa.auth.cache`) with the account's roles
and access-list rules, so a repeated token costs a dictionary lookup and a clock check, no query and no signature
check. Revocation, secret and account deletion, role and access-list changes drop the entry when they commit, so
they still take effect on the next request (and on other instances within a second).

Sync or async, deliberately: everything here is ``async def``. The cache hit is a few microseconds of pure Python,
far less than the thread-pool hop FastAPI gives a plain ``def`` dependency; a miss awaits the database through the
async driver and runs one signature check (~0.2 ms of CPU) inline, again cheaper than a hop to a thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.types import Scope

from atlas_sa.auth.cache import AccessRules, CachedPrincipal
from atlas_sa.auth.core import AuthCore
from atlas_sa.auth.failures import authentication_failed
from atlas_sa.auth.network import enforce_access_rules, enforce_network_access, load_access_rules
from atlas_sa.auth.repository import CredentialRepository, SigningKeyRepository
from atlas_sa.auth.tokens import verify
from atlas_sa.errors import Unauthorized
from atlas_sa.identity.principal import Principal
from atlas_sa.identity.roles import Requirement, satisfies
from atlas_sa.kit.addresses import client_ip
from atlas_sa.kit.fastpath import header
from atlas_sa.kit.observe import CALLER
from atlas_sa.kit.state import AppState

BEARER_CHALLENGE = 'Bearer error="invalid_token"'


def credentials_of(header: str) -> tuple[str, str]:
    """An ``Authorization`` header's scheme (lower case) and credentials."""
    scheme, _, credentials = header.strip().partition(" ")
    return scheme.lower(), credentials.strip()


def invalid_token(request: Request) -> Unauthorized:
    authentication_failed("bearer", None, client_ip(request))
    return Unauthorized(challenge=BEARER_CHALLENGE)


@dataclass(frozen=True, slots=True)
class RequestAuthenticator:
    """The app's :class:`~atlas_sa.identity.caller.Authenticator`, built once by ``create_app`` on the app's
    :class:`~atlas_sa.auth.core.AuthCore`: :meth:`__call__` for routes, and its cached form for the fast paths,
    which must admit only what the route would admit."""

    state: AppState
    core: AuthCore

    async def __call__(self, request: Request, session: AsyncSession) -> Principal:
        """The request's principal (the :class:`~atlas_sa.identity.caller.Authenticator` contract)."""
        scheme, credentials = credentials_of(request.headers.get("authorization", ""))
        access: AccessRules | None = None
        if scheme == "bearer":
            principal, access = await self.authenticate_bearer(request, credentials)
        elif scheme == "digest":
            principal = await self.core.digest.authenticate(request, session)
        else:
            # No credential we understand: 401 with a Digest challenge, as Atlas answers.
            raise Unauthorized(challenge=self.core.digest.challenge())
        request.scope[CALLER] = principal.id
        usage = self.core.usage
        if principal.kind == "service_account" and principal.account_id is not None and access is not None:
            await enforce_access_rules(request, session, principal.account_id, principal.client_ip or "", access, usage)
        else:
            await enforce_network_access(request, session, principal, usage)
        await self.core.limits.limit_route(request, principal)
        return principal

    async def authenticate_bearer(self, request: Request, token: str) -> tuple[Principal, AccessRules]:
        """The token's principal and its access-list rules: from the principal cache when this token was verified
        before (only the clock is checked again), else verified and read from the database, then cached.

        A miss reads in a short transaction of its own, not the request's: the request then holds no pooled
        connection until its endpoint runs, so requests waiting on a shared write (the access-list counter's group
        commit) never hold every connection that write needs."""
        state, caches = self.state, self.core.caches
        now = state.clock.now()
        cached = caches.principal(token)
        if cached is not None:
            if not cached.valid_at(now):
                raise invalid_token(request)
            return replace(cached.principal, client_ip=client_ip(request)), cached.access
        # Read before the database is, so a change committed meanwhile keeps this result out of the cache.
        epoch = caches.epoch
        async with state.db.unit_of_work(write=False) as session:
            credentials = CredentialRepository(session)
            verified = await verify(
                token,
                ring=self.core.ring,
                signing_keys=SigningKeyRepository(session),
                credentials=credentials,
                issuer=state.settings.issuer_url,
                now=now,
            )
            if verified is None or verified.key is None:
                raise invalid_token(request)
            account = verified.account
            principal = Principal(
                kind="service_account",
                id=account.client_id,
                org_id=account.org_id,
                org_roles=frozenset(account.org_roles),
                project_roles=await credentials.project_roles(account.id),
                account_id=account.id,
            )
            access = await load_access_rules(session, account.id, account.org_id)
        claims = verified.claims
        caches.put_principal(
            token,
            CachedPrincipal(
                principal,
                jti=verified.token.jti,
                iat=claims["iat"],
                exp=claims["exp"],
                row_expires_at=verified.token.expires_at,
                key=verified.key,
                access=access,
            ),
            epoch,
        )
        return replace(principal, client_ip=client_ip(request)), access

    async def admit_cached(
        self, scope: Scope, requirement: Requirement, org_id: str, route: str, params: Mapping[str, str]
    ) -> list[tuple[bytes, bytes]] | None:
        """:meth:`__call__`'s checks in its order (token valid now, access list, role, rate limit), against
        cached state only; ``None`` for anything they cannot decide alone, which the route then answers."""
        scheme, token = credentials_of(header(scope, b"authorization") or "")
        if scheme != "bearer":
            return None
        cached = self.core.caches.principal(token)
        if cached is None or not cached.valid_at(self.state.clock.now()):
            return None
        scope[CALLER] = cached.principal.id
        # An access list's use is counted per request (requestCount, lastUsedAt), which only the route does.
        if cached.access.blocks or cached.access.org_requires_list:
            return None
        if not satisfies(cached.principal, requirement, org_id):
            return None
        return await self.core.limits.take_route_token(cached.principal, route, params)
