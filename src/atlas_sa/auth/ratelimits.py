"""Atlas's rate limits, on the token buckets of :mod:`atlas_sa.kit.buckets`; the brute-force guard, on the same
buckets, is :mod:`atlas_sa.auth.bruteforce`.

**Rate limits** (Atlas's, per the decisions table). Every Atlas route takes one token from the bucket of its
(credential, scope) as soon as the caller is authenticated (:meth:`RateLimits.limit_route`, called by the ``Caller``
dependency, so routes without a caller are not limited):

- ``/orgs/{orgId}/serviceAccounts…``: 500, refilled 250 per 60 s, scoped to the organization;
- ``/groups/{groupId}/serviceAccounts…`` (``:invite`` included): 1200, 500 per 60 s, scoped to the project;
- ``/orgs/{orgId}/settings``: 10, 5 per 60 s;
- every other Atlas route: 1000, 500 per 60 s, scoped to the project, else the organization, else global;
- the token endpoint: 50 per minute per (client id, address), taken once the client has authenticated
  (:meth:`RateLimits.limit_token`).

A refusal is 429 ``RATE_LIMITED_TOKEN_BUCKET`` (token endpoint: ``RATE_LIMITED``) with ``Retry-After``; every
response of a limited route carries ``RateLimit-Limit`` / ``RateLimit-Remaining``. The credential is the
authenticated one (a bearer token's client id, a Digest key's public key), so unauthenticated requests spend
nobody's budget and leave no bucket behind: they are refused with 401 before reaching one (their failures are the
brute-force guard's, below).

One :class:`RateLimits` per app holds the policies, the store and the clock; ``create_app`` builds it once
(:mod:`atlas_sa.auth.core`). Stores: :class:`~atlas_sa.kit.buckets.SqlBuckets` on PostgreSQL (every instance shares the
buckets), :class:`~atlas_sa.kit.buckets.MemoryBuckets` on SQLite (one process). Time is the app's injected clock. Both
stay bounded: the table loses its full rows every minute (the store is told each key prefix's policy,
:func:`bucket_families`), memory keeps each policy apart within ``throttle_memory_entries`` and forgets what says least
first, so a flood of new keys neither grows the state without bound nor resets anyone's failure count.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import Scope

from atlas_sa.errors import RateLimited, RateLimitedTokenBucket
from atlas_sa.identity.principal import Principal
from atlas_sa.kit.addresses import client_address
from atlas_sa.kit.buckets import BucketStore, Decision, MemoryBuckets, Policy, SqlBuckets
from atlas_sa.kit.clock import Clock
from atlas_sa.kit.db import Database
from atlas_sa.kit.metrics import RATE_LIMITED
from atlas_sa.kit.routing import RATE_LIMIT_HEADERS as HEADERS_KEY
from atlas_sa.settings import Settings

TOKEN_PATH = "/api/oauth/token"  # noqa: S105 - a URL path
KNOWN_ADDRESS_SECONDS = 86_400
# The brute-force guard's record of an address that succeeded for a client (:mod:`atlas_sa.auth.bruteforce`).
KNOWN = Policy("auth-known", capacity=1, refill=1, period=KNOWN_ADDRESS_SECONDS)
# The guards' kinds, whose failure buckets share the store (:func:`bucket_families`).
GUARD_KINDS = ("oauth", "digest")
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


def bucket_families(table: Policies) -> list[tuple[str, Policy]]:
    """Every key prefix this module writes, with its policy: what the SQL store needs to tell a full row."""
    families = [
        (f"rl:{policy.name}:", policy)
        for policy in (
            table.org_service_accounts,
            table.project_service_accounts,
            table.org_settings,
            table.default,
            table.token,
        )
    ]
    for kind in GUARD_KINDS:
        families += [
            (f"bf:{kind}:pair:", table.failures_per_pair),
            (f"bf:{kind}:address:", table.failures_per_address),
            (f"bf:{kind}:client:", table.failures_per_client),
            (f"bf:{kind}:known:", KNOWN),
        ]
    return families


def bucket_store(settings: Settings, db: Database, table: Policies) -> SqlBuckets | MemoryBuckets:
    """The app's bucket store: shared SQL buckets on PostgreSQL, in-process buckets on SQLite."""
    if db.engine.dialect.name == "postgresql":
        return SqlBuckets(db.engine, bucket_families(table))
    return MemoryBuckets(settings.throttle_memory_entries)


def bucket_key(*parts: str, fixed: int = 1) -> str:
    """A bucket's key; parts an attacker chooses (ids from the path, client ids) are hashed when long or odd. The
    first ``fixed`` parts are ours and stay readable, so keys can be found by prefix."""
    key = ":".join(parts)
    if len(key) <= _MAX_KEY and _PLAIN_KEY.fullmatch(key):
        return key
    prefix = ":".join(parts[:fixed])
    return f"{prefix}:sha256:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"


def rate_key(policy: Policy, *parts: str) -> str:
    """The key of a rate-limit bucket: ``rl:<policy>:…``, the policy readable even when the rest is hashed."""
    return bucket_key("rl", policy.name, *parts, fixed=2)


# --- Atlas routes -----------------------------------------------------------------------------------------------


def classify(request: Request, table: Policies) -> tuple[Policy, str]:
    """The policy and scope of an Atlas route, from its path template and parameters."""
    route = request.scope.get("route")
    return classify_route(getattr(route, "path", request.url.path), request.path_params, table)


def classify_route(template: str, params: Mapping[str, str], table: Policies) -> tuple[Policy, str]:
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


class TokenRateLimited(RateLimited):
    """429 ``RATE_LIMITED`` on the token endpoint, with the bucket's headers."""

    def __init__(self, policy: Policy, retry_after: int) -> None:
        super().__init__(TOKEN_PATH, policy.capacity, max(1, policy.period // 60), retry_after)
        self.capacity = policy.capacity

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "RateLimit-Limit": str(self.capacity), "RateLimit-Remaining": "0"}


class RateLimits:
    """The rate limits of one app: its policies, its bucket store (shared with the brute-force guard) and its clock.
    Built once by :func:`atlas_sa.auth.core.build_auth_core`."""

    def __init__(self, settings: Settings, clock: Clock, table: Policies, store: BucketStore) -> None:
        self._settings = settings
        self._clock = clock
        self.policies = table
        self.store = store

    def now(self) -> float:
        """The clock as the buckets count it, in seconds."""
        return self._clock.now().timestamp()

    async def limit_route(self, request: Request, caller: Principal) -> None:
        """Take a token for this request; 429 ``RATE_LIMITED_TOKEN_BUCKET`` when the bucket is empty."""
        if not self._settings.rate_limits_enabled:
            return
        policy, scope = classify(request, self.policies)
        decision = await self._take(policy, caller, scope)
        request.scope[HEADERS_KEY] = decision.headers()
        if not decision.allowed:
            RATE_LIMITED.labels(policy.name).inc()
            raise RateLimitedTokenBucket(
                request.url.path.lstrip("/"), decision.retry_after, policy.capacity, policy.refill, policy.period
            )

    async def take_route_token(
        self, caller: Principal, template: str, params: Mapping[str, str]
    ) -> list[tuple[bytes, bytes]] | None:
        """:meth:`limit_route` for a fast path standing in for the route ``template``: the same bucket, and its
        headers as ASGI header pairs; ``None`` when the bucket is empty (the route then refuses the request, with
        its 429)."""
        if not self._settings.rate_limits_enabled:
            return []
        policy, scope = classify_route(template, params, self.policies)
        decision = await self._take(policy, caller, scope)
        if not decision.allowed:
            return None
        return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in decision.headers().items()]

    async def _take(self, policy: Policy, caller: Principal, scope: str) -> Decision:
        return await self.store.take(rate_key(policy, caller.kind, caller.id, scope), policy, self.now())

    async def limit_token(self, scope: Scope, client_id: str) -> None:
        """The token endpoint's rate limit, per (client id, address), for a client that has just authenticated:
        taken after authentication, like every other route's, so that a request naming any string as its client id
        spends nobody's budget and leaves no bucket behind (failures are the brute-force guard's, bounded by the
        address's budget). 429 ``RATE_LIMITED`` when the bucket is empty."""
        if not self._settings.rate_limits_enabled:
            return
        policy = self.policies.token
        address = client_address(self._settings.trusted_proxies, scope)
        decision = await self.store.take(rate_key(policy, client_id, address), policy, self.now())
        scope[HEADERS_KEY] = decision.headers()
        if not decision.allowed:
            RATE_LIMITED.labels(policy.name).inc()
            raise TokenRateLimited(policy, decision.retry_after)
