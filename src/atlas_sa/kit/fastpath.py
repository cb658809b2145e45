"""Fast paths: the two hot requests (minting a token, reading a service account) answered without FastAPI's router.

Sync or async, and why a second way in at all: measured on the benchmark machine, FastAPI's routing (matching the
path against every route, the request/response wrappers, dependency solving) was ~20% of a token request's CPU
and more than half of a cached read's. The routes themselves stay the one definition of each operation: a fast path
either runs the very handler the route would run (the token endpoint), or replays a response the route itself
rendered (the read), and hands every other request, every error and every doubt to the full application by
returning ``False``. A fast path must never answer differently from the route it shortcuts; the tests compare the
two byte for byte (``tests/kit/test_fastpath.py``).

The middleware sits inside the format and body-limit middleware: ``envelope``/``pretty``, Atlas's security headers,
413 and 408 apply to fast answers exactly as to routed ones.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

# ``(scope, receive, send, match)`` → ``True`` once it has answered, ``False`` to let the full app answer (it must
# then not have consumed the request body nor sent anything).
FastHandler = Callable[[Scope, Receive, Send, re.Match[str]], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class FastRoute:
    method: str
    pattern: re.Pattern[str]
    handler: FastHandler


class FastPathMiddleware:
    def __init__(self, app: ASGIApp, routes: list[FastRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            for route in self.routes:
                if route.method != method:
                    continue
                match = route.pattern.fullmatch(path)
                if match is not None and await route.handler(scope, receive, send, match):
                    return
        await self.app(scope, receive, send)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (``name`` lower-case), as Starlette decodes it (latin-1)."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
