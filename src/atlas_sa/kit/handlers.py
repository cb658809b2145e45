"""One place turns every failure into an Atlas error body: our own errors, request validation, unknown routes and
methods, and anything unexpected (500 ``UNEXPECTED_ERROR``, never a traceback in the body, and in the log only the
exception's type).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_sa.errors import (
    AtlasError,
    MalformedJson,
    MethodNotAllowed,
    NotFoundRoute,
    PayloadTooLarge,
    RequestTimeout,
    UnexpectedError,
    UnsupportedMediaType,
)
from atlas_sa.kit.bodies import seconds
from atlas_sa.kit.observe import route_template
from atlas_sa.kit.rendering import render_error
from atlas_sa.kit.state import app_state
from atlas_sa.kit.violations import validation_to_atlas

log = logging.getLogger("atlas_sa.errors")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path; the router itself only names the first route's."""
    path = request.url.path
    methods: set[str] = set()
    for route in app_state(request).routes:
        if isinstance(route, APIRoute) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    return sorted(methods)


async def _atlas_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AtlasError)
    return render_error(exc)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return render_error(validation_to_atlas(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: AtlasError
    if exc.status_code == 405:
        error = MethodNotAllowed(request.method, request.url.path, allowed_methods(request))
    elif exc.status_code == 404:
        error = NotFoundRoute(request.url.path)
    elif exc.status_code == 413:
        error = PayloadTooLarge(app_state(request).settings.max_body_bytes)
    elif exc.status_code == 408:
        error = RequestTimeout(seconds(app_state(request).settings.request_timeout))
    elif exc.status_code == 415:
        error = UnsupportedMediaType(request.headers.get("content-type", "(none)"))
    elif exc.status_code == 400:
        error = MalformedJson()
    else:
        error = UnexpectedError()
    return render_error(error)


def log_unexpected(scope: Scope, exc: BaseException) -> None:
    """One line: the method, the matched route's template and the exception's type (and, through the log
    configuration, the request id). Never the path (client text), the exception's message or its traceback: a
    database error's carry the statement and its parameters, which are client input and may be credentials."""
    log.error("unexpected error on %s %s: %s", scope.get("method"), route_template(scope), type(exc).__name__)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log_unexpected(request.scope, exc)
    return render_error(UnexpectedError())


class UnexpectedErrorMiddleware:
    """The last stop of an exception no handler took: 500 ``UNEXPECTED_ERROR`` (when no response has started) and
    :func:`log_unexpected`'s line. The exception goes no further. Starlette's own last stop renders the same 500 but
    then re-raises, for the server to log, and uvicorn logs it with its traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as exc:  # noqa: BLE001 - the point: nothing unexpected reaches the server's logger
            log_unexpected(scope, exc)
            if not started:
                await render_error(UnexpectedError())(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AtlasError, _atlas_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
