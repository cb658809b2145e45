"""The token fast path: ``POST /api/oauth/token`` runs its endpoint directly, without FastAPI's router.

The endpoint is the route's own (:func:`atlas_sa.auth.endpoints.create_access_token`, wrapped by the same
:class:`~atlas_sa.auth.endpoints.OAuthRoute` handler that renders RFC 6749 errors), so the two ways in cannot
answer differently; what is skipped is matching the path against every route and FastAPI's request wrappers, ~20%
of a token request's CPU (docs/performance.md). The errors the application renders rather than the OAuth handler
(413 and 408 from the body limits, 429 from the rate limit) go through the application's own exception handlers.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from atlas_sa.auth.endpoints import TOKEN_PATH, OAuthRoute, create_access_token
from atlas_sa.kit.fastpath import FastRoute
from atlas_sa.kit.routing import handled_error_response


def token_route() -> FastRoute:
    endpoint = OAuthRoute(TOKEN_PATH, create_access_token, methods=["POST"]).get_route_handler()

    async def handle(scope: Scope, receive: Receive, send: Send, _match: re.Match[str]) -> bool:
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:  # noqa: BLE001 - rendered by the app's handlers, as the router's wrapper would
            response = await handled_error_response(request, exc)
        await response(scope, receive, send)
        return True

    return FastRoute("POST", re.compile(re.escape(TOKEN_PATH)), handle, TOKEN_PATH)
