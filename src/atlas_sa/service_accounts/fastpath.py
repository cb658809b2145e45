"""The read fast path: ``GET /api/atlas/v2/orgs/{orgId}/serviceAccounts/{clientId}`` served from the view cache.

The first read of an account goes through the route as any request does; the route hands its response to
:func:`remember`, which keeps the exact headers and body (:class:`~atlas_sa.auth.cache.CachedView`). Later reads by
a bearer token already in the principal cache are answered here: the same checks as the route's, in its order
(token valid now, access list, role, rate limit), against cached state only. Anything this path does not decide
alone goes to the route: a query string (``envelope``, ``pretty``), an Accept header without a usable version, Digest
or an unknown token, an account with an access list or an organization that requires one (their use is counted per
request), a caller without the role, an empty rate-limit bucket, an account not cached yet. The route then answers
as it always does, errors included.

Sync or async: nothing here awaits except the rate-limit bucket and the response itself; on a hit the request
costs dictionary lookups and one clock read, no database and no signature check. Cached views are invalidated with
the account's principals (:mod:`atlas_sa.auth.cache`), on this instance at commit and on others within a second.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from atlas_sa.auth.cache import CachedView, ViewId, auth_caches
from atlas_sa.auth.throttle import bucket_store, policies, rate_key
from atlas_sa.errors import InvalidVersionDate
from atlas_sa.identity.principal import Principal
from atlas_sa.identity.roles import Requirement, satisfies
from atlas_sa.kit.fastpath import FastRoute, header
from atlas_sa.kit.negotiation import current_format, resolve_version
from atlas_sa.kit.observe import CALLER
from atlas_sa.kit.state import AppState

# The route's path (``ORG_ACCOUNT`` in endpoints.py), with its ``client_id`` converter's ``[^/:]+``.
ORG_ACCOUNT_PATH = re.compile(r"/api/atlas/v2/orgs/([^/]+)/serviceAccounts/([^/:]+)")
# What ``ServiceAccountService.get_for_org`` requires.
READ_REQUIREMENT = Requirement.ORG_READ_ONLY
# Set on a request that missed the view cache: the view it may fill, and the cache epoch before any database read.
_SLOT = "atlas_sa.view_slot"
_MAX_ACCEPT_FORMS = 64


def read_route(state: AppState, versions: tuple[str, ...], template: str) -> FastRoute:
    """The fast read of the route whose template (``path_format``) is ``template``."""
    caches = auth_caches(state)
    settings = state.settings
    accept_versions: dict[str, str | None] = {}

    def version_for(accept: str | None) -> str | None:
        if accept is None:
            return None
        if accept not in accept_versions:
            try:
                found: str | None = resolve_version(accept, versions)
            except InvalidVersionDate:
                found = None
            if len(accept_versions) >= _MAX_ACCEPT_FORMS:
                # Clients send one or two Accept forms; anyone sending many new ones just isn't cached.
                return found
            accept_versions[accept] = found
        return accept_versions[accept]

    async def handle(scope: Scope, _receive: Receive, send: Send, match: re.Match[str]) -> bool:
        if scope.get("query_string"):
            return False
        version = version_for(header(scope, b"accept"))
        if version is None:
            return False
        org_id, client_id = match.group(1), match.group(2)
        view_id: ViewId = (org_id, client_id, version)
        view = caches.view(view_id)
        if view is None:
            # The route may fill it, whoever the caller: the view does not depend on who asks.
            scope[_SLOT] = (view_id, caches.epoch)
            return False
        authorization = header(scope, b"authorization")
        if authorization is None:
            return False
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        cached = caches.principal(token.strip())
        if cached is None or not cached.valid_at(state.clock.now()):
            return False
        if cached.access.blocks or cached.access.org_requires_list:
            return False
        if not satisfies(cached.principal, READ_REQUIREMENT, org_id):
            return False
        scope[CALLER] = cached.principal.id
        headers = list(view.headers)
        if settings.rate_limits_enabled:
            limited = await _take(state, cached.principal, org_id)
            if limited is None:
                return False
            headers += limited
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": view.body})
        return True

    return FastRoute("GET", ORG_ACCOUNT_PATH, handle, template)


async def _take(state: AppState, caller: Principal, org_id: str) -> list[tuple[bytes, bytes]] | None:
    """A token from the caller's bucket for this organization's service-account routes, as ``limit_route`` takes
    it; ``None`` when the bucket is empty (the route then refuses the request, with its 429 body)."""
    policy = policies(state).org_service_accounts
    key = rate_key(policy, caller.kind, caller.id, f"org={org_id}")
    decision = await bucket_store(state).take(key, policy, state.clock.now().timestamp())
    if not decision.allowed:
        return None
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in decision.headers().items()]


def remember(request: Request, account_id: str, org_id: str, response: Response) -> Response:
    """Keep the route's response for the fast path, when the fast path asked for it (a cacheable request that
    missed) and nothing was invalidated since before the route read the account."""
    slot: tuple[ViewId, int] | None = request.scope.get(_SLOT)
    fmt = current_format()
    if slot is None or fmt.envelope or fmt.pretty or response.status_code != 200:
        return response
    view_id, epoch = slot
    headers = tuple((name, value) for name, value in response.raw_headers if not name.startswith(b"ratelimit-"))
    caches = auth_caches(request.app.state.atlas)
    caches.put_view(view_id, CachedView(account_id, org_id, headers, bytes(response.body)), epoch)
    return response
