"""Fast paths: a hot read answered without FastAPI's router (the token endpoint has its own entry ahead of the whole
FastAPI stack, :mod:`atlas_sa.auth.fastpath`).

Sync or async, and why a second way in at all: measured on the benchmark machine, FastAPI's routing (matching the
path against every route, the request/response wrappers, dependency solving) was more than half of a cached read's
CPU. The routes themselves stay the one definition of each operation: a fast path replays a response the route
itself rendered (the read), and hands every other request, every error and every doubt to the full application by
returning ``False``. A fast path must never answer differently from the route it shortcuts; the tests compare the
two byte for byte (``tests/kit/test_fastpath.py``).

The middleware sits inside the format and body-limit middleware: ``envelope``/``pretty``, Atlas's security headers,
413 and 408 apply to fast answers exactly as to routed ones. Each fast route names the template of the route it
shortcuts: the request's metrics, access-log line and OpenTelemetry span (:mod:`atlas_sa.kit.observe`) label a fast
answer as they label the routed one.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from opentelemetry import trace
from starlette.types import ASGIApp, Receive, Scope, Send

from atlas_sa.kit.observe import ROUTE

# ``(scope, receive, send, match)`` → ``True`` once it has answered, ``False`` to let the full app answer (it must
# then not have consumed the request body nor sent anything).
FastHandler = Callable[[Scope, Receive, Send, re.Match[str]], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class FastRoute:
    method: str
    pattern: re.Pattern[str]
    handler: FastHandler
    # The shortcut route's template (its ``path_format``), as the router would have labelled the request.
    template: str


class FastPathMiddleware:
    def __init__(self, app: ASGIApp, routes: list[FastRoute], *, tracing: bool = False) -> None:
        self.app = app
        self.routes = routes
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            for route in self.routes:
                if route.method != method:
                    continue
                match = route.pattern.fullmatch(path)
                if match is None:
                    continue
                # Labelled before the handler runs: the span ends as the response's last byte leaves.
                scope[ROUTE] = route.template
                if self.tracing:
                    _name_span(method, route.template)
                if await route.handler(scope, receive, send, match):
                    return
                del scope[ROUTE]  # the router will name the route that answers
        await self.app(scope, receive, send)


def _name_span(method: str, template: str) -> None:
    # What FastAPI's telemetry does when its router selects a route; a routed answer renames it the same way.
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("http.route", template)
        span.update_name(f"{method} {template}")


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (``name`` lower-case), as Starlette decodes it (latin-1)."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
