"""The read fast path: ``GET /api/atlas/v2/orgs/{orgId}/serviceAccounts/{clientId}`` served from the view cache.

The first read of an account goes through the route as any request does; the route hands its response to
:func:`remember`, which keeps the exact headers and body (:class:`CachedView`). Later reads by
a bearer token already in the principal cache are answered here: the same checks as the route's, in its order
(token valid now, access list, role, rate limit), against cached state only. Anything this path does not decide
alone goes to the route: a query string (``envelope``, ``pretty``), an Accept header without a usable version, Digest
or an unknown token, an account with an access list or an organization that requires one (their use is counted per
request), a caller without the role, an empty rate-limit bucket, an account not cached yet. The route then answers
as it always does, errors included.

The checks are the app's authentication itself, in its cached form
(:meth:`~atlas_sa.identity.caller.Authenticator.admit_cached`); the views are kept in the app's
:class:`~atlas_sa.service_accounts.views.ViewCache`, which ``create_app`` builds and hands over, and which drops an
account's views when the account changes, on this instance at commit and on others within a second.

Sync or async: nothing here awaits except the rate-limit bucket and the response itself; on a hit the request
costs dictionary lookups and one clock read, no database and no signature check.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from atlas_sa.errors import InvalidVersionDate
from atlas_sa.identity.caller import Authenticator
from atlas_sa.identity.roles import Requirement
from atlas_sa.kit.fastpath import FastRoute, header
from atlas_sa.kit.negotiation import current_format, resolve_version
from atlas_sa.service_accounts.views import CachedView, ViewCache, ViewId

# The route's path (``ORG_ACCOUNT`` in endpoints.py), with its ``client_id`` converter's ``[^/:]+``.
ORG_ACCOUNT_PATH = re.compile(r"/api/atlas/v2/orgs/([^/]+)/serviceAccounts/([^/:]+)")
# What ``ServiceAccountService.get_for_org`` requires.
READ_REQUIREMENT = Requirement.ORG_READ_ONLY
# Set on a request that missed the view cache: the view it may fill, and the cache epoch before any database read.
_SLOT = "atlas_sa.view_slot"
_MAX_ACCEPT_FORMS = 64


def view_cache(request: Request) -> ViewCache:
    """The app's view cache (``create_app`` sets it)."""
    found: ViewCache = request.app.state.views
    return found


def read_route(versions: tuple[str, ...], template: str, views: ViewCache, authenticator: Authenticator) -> FastRoute:
    """The fast read of the route whose template (``path_format``) is ``template``."""
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
        view = views.view(view_id)
        if view is None:
            # The route may fill it, whoever the caller: the view does not depend on who asks.
            scope[_SLOT] = (view_id, views.epoch)
            return False
        limited = await authenticator.admit_cached(scope, READ_REQUIREMENT, org_id, template, {"orgId": org_id})
        if limited is None:
            return False
        await send({"type": "http.response.start", "status": 200, "headers": [*view.headers, *limited]})
        await send({"type": "http.response.body", "body": view.body})
        return True

    return FastRoute("GET", ORG_ACCOUNT_PATH, handle, template)


def remember(request: Request, account_id: str, org_id: str, response: Response) -> Response:
    """Keep the route's response for the fast path, when the fast path asked for it (a cacheable request that
    missed) and nothing was invalidated since before the route read the account."""
    slot: tuple[ViewId, int] | None = request.scope.get(_SLOT)
    fmt = current_format()
    if slot is None or fmt.envelope or fmt.pretty or response.status_code != 200:
        return response
    view_id, epoch = slot
    headers = tuple((name, value) for name, value in response.raw_headers if not name.startswith(b"ratelimit-"))
    view_cache(request).put_view(view_id, CachedView(account_id, org_id, headers, bytes(response.body)), epoch)
    return response
