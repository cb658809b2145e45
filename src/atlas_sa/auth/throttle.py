"""Rate limits and brute-force protection, on the token buckets of :mod:`atlas_sa.kit.ratelimit`.

**Rate limits** (Atlas's, per the decisions table). Every Atlas route takes one token from the bucket of its
(credential, scope) as soon as the caller is authenticated (:func:`limit_route`, called by the ``Caller``
dependency, so routes without a caller are not limited):

- ``/orgs/{orgId}/serviceAccounts…``: 500, refilled 250 per 60 s, scoped to the organization;
- ``/groups/{groupId}/serviceAccounts…`` (``:invite`` included): 1200, 500 per 60 s, scoped to the project;
- ``/orgs/{orgId}/settings``: 10, 5 per 60 s;
- every other Atlas route: 1000, 500 per 60 s, scoped to the project, else the organization, else global;
- the token endpoint: 50 per minute per (client id, address).

A refusal is 429 ``RATE_LIMITED_TOKEN_BUCKET`` (token endpoint: ``RATE_LIMITED``) with ``Retry-After``; every
response of a limited route carries ``RateLimit-Limit`` / ``RateLimit-Remaining``. The credential is the
authenticated one (a bearer token's client id, a Digest key's public key), so unauthenticated requests spend
nobody's budget: they are refused with 401 before reaching a bucket.

**Brute force** (RFC 6749 §2.3.1). Client authentication at the token, revocation and introspection endpoints and
Digest authentication go through an :class:`AuthGuard`. Each failure takes a token from three buckets that refill
over the lockout window: (client id, address), address, and client id. Once a (client id, address) has failed a few
times, each further failure is answered after a delay; once any of the three is empty, attempts are refused with
429 before the credential is even checked (so a lucky guess during a lockout gains nothing). The legitimate client
is not locked out by someone else's failures: the (client id, address) and address buckets are the attacker's own,
and the client-id bucket (a distributed attack on one client) is not consulted for an address that succeeded for
that client in the last 24 hours. A success is remembered in a one-token bucket, so "recently succeeded" lives in
the same store as the buckets and is shared across instances on PostgreSQL.

Stores: :class:`~atlas_sa.kit.ratelimit.SqlBuckets` on PostgreSQL (every instance shares the buckets),
:class:`~atlas_sa.kit.ratelimit.MemoryBuckets` on SQLite (one process). Time is the app's injected clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from atlas_sa.auth.network import client_ip
from atlas_sa.auth.principal import Principal
from atlas_sa.errors import RateLimited, RateLimitedTokenBucket
from atlas_sa.kit.ratelimit import BucketStore, MemoryBuckets, Policy, SqlBuckets
from atlas_sa.kit.routing import RATE_LIMIT_HEADERS as HEADERS_KEY
from atlas_sa.kit.state import AppState, app_state
from atlas_sa.settings import Settings

if TYPE_CHECKING:
    from atlas_sa.auth.service import ClientCredentials


TOKEN_PATH = "/api/oauth/token"  # noqa: S105 - a URL path
KNOWN_ADDRESS_SECONDS = 86_400
_KNOWN = Policy("auth-known", capacity=1, refill=1, period=KNOWN_ADDRESS_SECONDS)
_MAX_KEY = 200
# Keys are kept readable when they hold only these; anything else (NUL bytes, which PostgreSQL text refuses, or
# any other odd character an attacker put in a path or a client id) is hashed.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9._:=@-]*")


def parse_policy(name: str, spec: str) -> Policy:
    capacity, refill, period = (int(part) for part in spec.split("/"))
    return Policy(name, capacity=capacity, refill=refill, period=period)


@dataclass(frozen=True, slots=True)
class Policies:
    org_service_accounts: Policy
    project_service_accounts: Policy
    org_settings: Policy
    default: Policy
    token: Policy
    failures_per_pair: Policy
    failures_per_address: Policy
    failures_per_client: Policy

    @classmethod
    def from_settings(cls, settings: Settings) -> Policies:
        window = settings.auth_lockout_seconds

        def failures(name: str, capacity: int) -> Policy:
            return Policy(name, capacity=capacity, refill=capacity, period=window)

        return cls(
            org_service_accounts=parse_policy("org-sa", settings.rate_limit_org_service_accounts),
            project_service_accounts=parse_policy("group-sa", settings.rate_limit_project_service_accounts),
            org_settings=parse_policy("org-settings", settings.rate_limit_org_settings),
            default=parse_policy("default", settings.rate_limit_default),
            token=parse_policy("token", settings.rate_limit_token),
            failures_per_pair=failures("fail-pair", settings.auth_failures_per_client_address),
            failures_per_address=failures("fail-address", settings.auth_failures_per_address),
            failures_per_client=failures("fail-client", settings.auth_failures_per_client),
        )


def policies(state: AppState) -> Policies:
    found = state.extras.get("throttle.policies")
    if found is None:
        found = state.extras["throttle.policies"] = Policies.from_settings(state.settings)
    assert isinstance(found, Policies)
    return found


def bucket_store(state: AppState) -> BucketStore:
    """The app's bucket store: shared SQL buckets on PostgreSQL, in-process buckets on SQLite."""
    store = state.extras.get("throttle.store")
    if store is None:
        engine = state.db.engine
        store = SqlBuckets(engine) if engine.dialect.name == "postgresql" else MemoryBuckets()
        state.extras["throttle.store"] = store
    assert isinstance(store, SqlBuckets | MemoryBuckets)
    return store


def bucket_key(*parts: str) -> str:
    """A bucket's key; parts an attacker chooses (ids from the path, client ids) are hashed when long."""
    key = ":".join(parts)
    if len(key) <= _MAX_KEY and _PLAIN_KEY.fullmatch(key):
        return key
    return f"{parts[0]}:sha256:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _now(state: AppState) -> float:
    return state.clock.now().timestamp()


def _wait(tokens: float, policy: Policy) -> int:
    return max(1, math.ceil((1 - tokens) / policy.rate))


# --- Atlas routes -----------------------------------------------------------------------------------------------


def classify(request: Request, table: Policies) -> tuple[Policy, str]:
    """The policy and scope of an Atlas route, from its path template and parameters."""
    route = request.scope.get("route")
    template: str = getattr(route, "path", request.url.path)
    params = request.path_params
    org, group = params.get("orgId"), params.get("groupId")
    if "/serviceAccounts" in template:
        if group is not None:
            return table.project_service_accounts, f"group={group}"
        if org is not None:
            return table.org_service_accounts, f"org={org}"
    if org is not None and template.endswith("/{orgId}/settings"):
        return table.org_settings, f"org={org}"
    if group is not None:
        return table.default, f"group={group}"
    if org is not None:
        return table.default, f"org={org}"
    return table.default, "global"


async def limit_route(request: Request, caller: Principal) -> None:
    """Take a token for this request; 429 ``RATE_LIMITED_TOKEN_BUCKET`` when the bucket is empty."""
    state = app_state(request)
    if not state.settings.rate_limits_enabled:
        return
    policy, scope = classify(request, policies(state))
    key = bucket_key("rl", policy.name, caller.kind, caller.id, scope)
    decision = await bucket_store(state).take(key, policy, _now(state))
    request.scope[HEADERS_KEY] = decision.headers()
    if not decision.allowed:
        raise RateLimitedTokenBucket(
            request.url.path.lstrip("/"), decision.retry_after, policy.capacity, policy.refill, policy.period
        )


def with_rate_headers(request: Request, response: Response) -> Response:
    """Copy the request's rate-limit headers, if any, onto its response."""
    headers = request.scope.get(HEADERS_KEY)
    if headers:
        response.headers.update(headers)
    return response


# --- brute force ------------------------------------------------------------------------------------------------


class TokenRateLimited(RateLimited):
    """429 ``RATE_LIMITED`` on the token endpoint, with the bucket's headers."""

    def __init__(self, policy: Policy, retry_after: int) -> None:
        super().__init__(TOKEN_PATH, policy.capacity, max(1, policy.period // 60), retry_after)
        self.capacity = policy.capacity

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "RateLimit-Limit": str(self.capacity), "RateLimit-Remaining": "0"}


class DigestLocked(RateLimitedTokenBucket):
    def headers(self) -> dict[str, str]:
        return {**super().headers(), "RateLimit-Limit": str(self.parameters[2]), "RateLimit-Remaining": "0"}


@dataclass
class AuthGuard:
    """One authentication attempt by ``client`` (a client id or API public key) from ``address``."""

    state: AppState
    kind: str
    client: str
    address: str
    path: str
    enabled: bool

    @classmethod
    async def check(cls, request: Request, kind: str, client: str) -> AuthGuard:
        """The guard for this attempt; 429 when the client, the address or the pair is locked out."""
        state = app_state(request)
        guard = cls(state, kind, client, client_ip(request), request.url.path, state.settings.auth_throttle_enabled)
        if guard.enabled:
            await guard._refuse_if_locked()
        return guard

    def _keys(self) -> list[tuple[str, Policy]]:
        table = policies(self.state)
        return [
            (bucket_key("bf", self.kind, "pair", self.client, self.address), table.failures_per_pair),
            (bucket_key("bf", self.kind, "address", self.address), table.failures_per_address),
            (bucket_key("bf", self.kind, "client", self.client), table.failures_per_client),
        ]

    def _known_key(self) -> str:
        return bucket_key("bf", self.kind, "known", self.client, self.address)

    async def _refuse_if_locked(self) -> None:
        store, now = bucket_store(self.state), _now(self.state)
        for key, policy in self._keys():
            tokens = await store.peek(key, policy, now)
            if tokens >= 1:
                continue
            if policy.name == "fail-client" and await store.peek(self._known_key(), _KNOWN, now) < 1:
                # The client id is under attack from elsewhere; this address recently proved it holds the secret.
                continue
            raise self._refusal(policy, _wait(tokens, policy))

    def _refusal(self, policy: Policy, retry_after: int) -> Exception:
        if self.kind == "digest":
            return DigestLocked(self.path.lstrip("/"), retry_after, policy.capacity, policy.refill, policy.period)
        return TokenRateLimited(policy, retry_after)

    async def failed(self, session: AsyncSession | None = None) -> None:
        """Count a failure; answer it late once this client has failed from this address a few times. A request's
        ``session`` is rolled back first: the delay must not hold a connection or SQLite's write lock."""
        if not self.enabled:
            return
        store, now = bucket_store(self.state), _now(self.state)
        remaining = []
        for key, policy in self._keys():
            remaining.append((await store.take(key, policy, now)).remaining)
        failures = policies(self.state).failures_per_pair.capacity - remaining[0]
        if failures > self.state.settings.auth_failures_before_delay:
            if session is not None:
                await session.rollback()
            await asyncio.sleep(self.state.settings.auth_failure_delay_seconds)

    async def succeeded(self) -> None:
        """Remember that this address holds the client's credential (exempts it from the client-id lockout)."""
        if self.enabled:
            await bucket_store(self.state).take(self._known_key(), _KNOWN, _now(self.state))


async def auth_guard(request: Request, kind: str, client: str) -> AuthGuard:
    return await AuthGuard.check(request, kind, client)


@asynccontextmanager
async def client_authentication(
    request: Request, presented: ClientCredentials | None, *, rate_limited: bool = False
) -> AsyncIterator[None]:
    """Around an OAuth endpoint's client authentication: the token endpoint's rate limit (``rate_limited``), the
    brute-force lockout before, and the failure or success after (``invalid_client`` is the failure)."""
    from atlas_sa.auth.service import InvalidClient  # noqa: PLC0415 - keeps this module free of the OAuth service

    state = app_state(request)
    client = presented.client_id if presented is not None else ""
    if rate_limited and state.settings.rate_limits_enabled:
        policy = policies(state).token
        key = bucket_key("rl", policy.name, client, client_ip(request))
        decision = await bucket_store(state).take(key, policy, _now(state))
        request.scope[HEADERS_KEY] = decision.headers()
        if not decision.allowed:
            raise TokenRateLimited(policy, decision.retry_after)
    guard = await AuthGuard.check(request, "oauth", client)
    try:
        yield
    except InvalidClient:
        await guard.failed()
        raise
    await guard.succeeded()
