"""Every HTTP request observed once, whichever way it is answered: its request id, its metrics, its access-log line.

:class:`RequestObserver` wraps the whole application, outside Starlette's error middleware
(:func:`atlas_sa.app.create_app` builds it into the stack), so it sees every response as the client does: routed
ones, the fast paths' (:mod:`atlas_sa.kit.fastpath`), 404 and 405, 413 and 408 from the request limits, and the 500
of an unexpected error. Nothing is copied into the routes or the fast paths; they only say what they know (the
route template of a fast answer, :data:`ROUTE`; the caller, :data:`CALLER`). The answers the server's protocol
writes below the app (``atlas_sa.cli.protocol``: 408 for a head too slow, 431 and 414 for one too large, 400 for
broken framing) are observed by :func:`observe_answer_below`, the same way: an id, the metrics, the access-log line.

**Request id.** A client's ``X-Request-Id`` is kept when it matches :data:`REQUEST_ID_PATTERN` (1-128 of
``A-Z a-z 0-9 . _ : -``); otherwise one is generated (32 hex digits). It is echoed on the response, and available
to the request's code as ``scope[REQUEST_ID]`` and as :func:`current_request_id` (a context variable, set for the
request's task), which the event recorder writes on the request's events and the log formatter on every log line
written while the request runs.

**Cost.** The token request is the hottest path (~0.27 ms of CPU); this adds a clock read, a header scan, an id
from the process's random generator, the echoed header, a context variable and one count in
:class:`~atlas_sa.kit.metrics.HttpMetrics` (plain numbers: prometheus-client's ``inc`` and ``observe`` took 1.5 of
the 4.0 µs this cost before), and no coroutine level of its own below :class:`RequestObserver`: the ``send`` it
wraps and :class:`MetricsEndpoint` are plain functions returning the awaitable, so the request's suspensions do not
pass through them. Around a trivial app it costs 2.2 µs per request (4.0 µs before); on the token path, with the
token's own two counter increments, ~2-3% of the instructions per token (``bench/token_instructions.py``;
``docs/performance.md`` on why CPU-time A/B runs scatter more than that). The access-log line costs more and has
its own setting (``ATLAS_SA_ACCESS_LOG``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Iterable
from contextvars import ContextVar
from random import getrandbits
from time import perf_counter

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_sa.errors import MethodNotAllowed, NotFoundRoute
from atlas_sa.kit.metrics import HTTP_METRICS, UNROUTED, exposition
from atlas_sa.kit.rendering import render_error
from atlas_sa.kit.state import AppState

# Scope keys: the request id (set here), the route template of a request a fast path answered, and the caller's
# identity (a client id or an API public key, never a secret), set by authentication for the access log. And the
# status the server's protocol answered a request with while the app still ran it (its body's framing broke): the
# client got that answer, not the app's.
REQUEST_ID = "atlas_sa.request_id"
ROUTE = "atlas_sa.route"
CALLER = "atlas_sa.caller"
ANSWERED_BELOW = "atlas_sa.answered_below"
REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A request whose app ended without a response (an exception the server turns into its own 500).
_NO_RESPONSE = 500

_request_id: ContextVar[str | None] = ContextVar("atlas_sa_request_id", default=None)
access_log = logging.getLogger("atlas_sa.access")


def current_request_id() -> str | None:
    """The id of the request this code runs for, or ``None`` outside a request."""
    return _request_id.get()


def new_request_id() -> str:
    """32 hex digits from the process's Mersenne Twister (seeded from the OS, reseeded in a forked child), not
    ``os.urandom``: an id must be unique, not secret (a client may choose its own), and ``os.urandom`` lets go of
    the GIL around its system call, which on the server hands the core to the database thread mid-request
    (measured: docs/performance.md)."""
    return "%032x" % getrandbits(128)  # noqa: UP031 - the fastest of the formats, measured


def request_id_of(scope: Scope) -> str:
    """The request's id, given once and kept in its scope: the client's when admissible, else a new one. The app
    and the protocol below it may each ask first (see :data:`ANSWERED_BELOW`)."""
    request_id: str | None = scope.get(REQUEST_ID)
    if request_id is None:
        request_id = scope[REQUEST_ID] = _incoming_id(scope.get("headers", ())) or new_request_id()
    return request_id


def _incoming_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            return text if REQUEST_ID_PATTERN.fullmatch(text) else None
    return None


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/api/atlas/v2/orgs/{orgId}``), never the path itself, so that
    the metrics' labels stay few whatever clients send."""
    template: str | None = scope.get(ROUTE)
    if template is None:
        template = getattr(scope.get("route"), "path_format", None)
    return template or UNROUTED


def _observe(scope: Scope, status: int, elapsed: float, *, access_log_enabled: bool) -> None:
    """Count a request's answer and write its access-log line (with the request id of the context)."""
    method = scope.get("method")
    route = route_template(scope)
    HTTP_METRICS.count(method if method in _METHODS else "other", route, status, elapsed)
    if access_log_enabled and access_log.isEnabledFor(logging.INFO):
        _log_access(scope, route, status, elapsed)


def observe_answer_below(scope: Scope, status: int, started: float, *, access_log_enabled: bool) -> str:
    """A request answered by the server's protocol, below the app, observed as the app's are; its id, for the
    response. ``scope``: as much of one as the protocol read (none of the head, part of it, or all of it);
    ``started``: the :func:`~time.perf_counter` time it began to wait for the head."""
    request_id = request_id_of(scope)
    token = _request_id.set(request_id)
    try:
        _observe(scope, status, perf_counter() - started, access_log_enabled=access_log_enabled)
    finally:
        _request_id.reset(token)
    return request_id


class RequestObserver:
    def __init__(self, app: ASGIApp, *, access_log_enabled: bool) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        request_id = request_id_of(scope)
        echoed = (REQUEST_ID_HEADER, request_id.encode("latin-1"))
        status = _NO_RESPONSE

        # A plain function returning the server's awaitable, not a coroutine: no frame of ours per message, nor on
        # the path of a send that waits (flow control).
        def observed_send(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            return send(message)

        token = _request_id.set(request_id)
        try:
            await self.app(scope, receive, observed_send)
        finally:
            # What the client got: the protocol's answer if it gave one (whatever the app did after).
            answered = scope.get(ANSWERED_BELOW, status)
            _observe(scope, answered, perf_counter() - started, access_log_enabled=self.access_log_enabled)
            _request_id.reset(token)


def _log_access(scope: Scope, route: str, status: int, elapsed: float) -> None:
    # The raw path, never the query string: a client may put anything in a query, and the raw path cannot hold a
    # line break (the HTTP parser refuses one), so a line cannot be forged through it.
    # A head the protocol refused before it was whole has neither method nor path.
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path is not None else scope.get("path", "-")
    method = scope.get("method", "-")
    client = scope.get("client")
    address = client[0] if client else "-"
    caller = scope.get(CALLER)
    milliseconds = round(elapsed * 1000, 3)
    access_log.info(
        '%s "%s %s" %d %.3fms caller=%s',
        address,
        method,
        path,
        status,
        milliseconds,
        caller or "-",
        extra={
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": milliseconds,
            "caller": caller,
            "client_address": address,
        },
    )


METRICS_PATH = "/metrics"


class MetricsEndpoint:
    """``GET /metrics`` on the main port, or, with ``ATLAS_SA_METRICS_PORT``, only on that port: the server then
    listens on both, and this tells them apart by the port a request arrived on (``scope["server"]``). The metrics
    port answers nothing else (404); the main port does not answer ``/metrics`` (the router's 404)."""

    def __init__(self, app: ASGIApp, state: AppState, metrics_port: int | None) -> None:
        self.app = app
        self.state = state
        self.port = metrics_port

    # A plain function returning the coroutine that answers, not a coroutine itself: every request passes here, and
    # a coroutine level would be resumed on each of the request's suspensions.
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http":
            if self.port is None:
                if scope["path"] == METRICS_PATH:
                    return self._answer(scope, receive, send)
            elif (scope.get("server") or (None, None))[1] == self.port:
                return self._answer(scope, receive, send)
        return self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path != METRICS_PATH:
            response = render_error(NotFoundRoute(path))
        elif method not in ("GET", "HEAD"):
            response = render_error(MethodNotAllowed(method, path, ["GET", "HEAD"]))
        else:
            scope[ROUTE] = METRICS_PATH
            accept = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"accept"), None)
            body, media_type = await exposition(self.state, accept)
            response = Response(body, headers={"Cache-Control": "no-store", "Content-Type": media_type})
        await response(scope, receive, send)
