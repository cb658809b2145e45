"""The token endpoint's own entry: ``POST /api/oauth/token`` answered by a pure-ASGI pipeline ahead of the FastAPI
stack.

The token endpoint is OAuth, not Atlas: no version negotiation, no router, no dependency, no Atlas error middleware
is needed to answer it. So :class:`TokenEntry` sits right inside the request observer (request id, metrics, access
log, as for every request) and runs the same pieces the routed endpoint runs, and nothing else:

- Atlas's security headers and the request format (:class:`~atlas_sa.kit.negotiation.FormatMiddleware`), and the
  body's size and read-time limits (:class:`~atlas_sa.kit.bodies.BodyLimitMiddleware`), the very middleware the
  FastAPI stack applies; the header limits live below ASGI, in the server's protocol (:mod:`atlas_sa.cli.protocol`);
- the endpoint itself, :func:`atlas_sa.auth.exchange.token_exchange` (form, credentials, brute-force guard, client
  cache, rate limit, group-committed mint, ES256 signature), wrapped by
  :func:`~atlas_sa.auth.exchange.oauth_answer`, which renders RFC 6749 §5.2 errors for the route as well;
- 413, 408 and 429 rendered by the application's own exception handlers, as a routed request's are.

What it skips, measured (docs/performance.md): Starlette's error middleware, FastAPI's body-limit and telemetry
middleware, our unexpected-error middleware and the fast-path dispatch, each a wrapped ``send`` per response.
``tests/kit/test_fastpath.py`` and ``tests/security/test_client_text.py`` compare its answers with the routed
endpoint's byte for byte. With OpenTelemetry on, the entry is not installed: the request spans are FastAPI's.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from atlas_sa.auth.core import AuthCore
from atlas_sa.auth.exchange import TOKEN_PATH, oauth_answer, token_exchange
from atlas_sa.errors import AtlasError
from atlas_sa.kit.bodies import BodyLimitMiddleware
from atlas_sa.kit.negotiation import FormatMiddleware
from atlas_sa.kit.observe import ROUTE
from atlas_sa.kit.routing import handled_error_response
from atlas_sa.kit.state import AppState

# The route's own path pattern, as FastAPI compiles it (``bad_url_parameter`` reads path parameters from it).
_TOKEN_PATTERN = re.compile(f"^{re.escape(TOKEN_PATH)}$")


class TokenEntry:
    """``POST /api/oauth/token`` through its own pipeline; every other request to ``app``."""

    def __init__(self, app: ASGIApp, state: AppState, core: AuthCore) -> None:
        self.app = app
        self.state = state
        self.core = core
        settings = state.settings
        self.pipeline = FormatMiddleware(
            BodyLimitMiddleware(self._answer, settings.max_body_bytes, settings.request_timeout)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == TOKEN_PATH and scope["method"] == "POST":
            # The route's template, as the router would have labelled the request (metrics, access log).
            scope[ROUTE] = TOKEN_PATH
            await self.pipeline(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        state, core = self.state, self.core
        try:
            response = await oauth_answer(scope, _TOKEN_PATTERN, lambda: token_exchange(state, core, scope, receive))
        except (HTTPException, AtlasError) as exc:
            # Rendered by the app's handlers, as the router's wrapper would (a ClientDisconnect goes on up to the
            # body limit, which ends the request quietly).
            response = await handled_error_response(Request(scope, receive, send), exc)
        await response(scope, receive, send)
