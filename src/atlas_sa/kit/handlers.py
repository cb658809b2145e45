"""One place turns every failure into an Atlas error body: our own errors, request validation, unknown routes and
methods, and anything unexpected (500 ``UNEXPECTED_ERROR``, never a traceback in the body, and in the log only the
exception's type).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_sa.errors import (
    AtlasError,
    FieldViolation,
    InvalidAttribute,
    InvalidEnumValue,
    InvalidJson,
    InvalidJsonAttribute,
    InvalidQueryParameter,
    MalformedJson,
    MethodNotAllowed,
    MissingAttribute,
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

log = logging.getLogger("atlas_sa.errors")

_TYPE_ERRORS = frozenset(
    {
        "string_type",
        "int_type",
        "int_parsing",
        "int_from_float",
        "float_type",
        "float_parsing",
        "bool_type",
        "bool_parsing",
        "list_type",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "tuple_type",
        "set_type",
        "is_instance_of",
        "none_required",
        "string_unicode",
    }
)
_ENUM_ERRORS = frozenset({"enum", "literal_error"})


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path; the router itself only names the first route's."""
    path = request.url.path
    methods: set[str] = set()
    for route in app_state(request).routes:
        if isinstance(route, APIRoute) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    return sorted(methods)


def field_path(loc: Sequence[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def validation_to_atlas(errors: Sequence[Any]) -> AtlasError:
    """Map pydantic's violations to one Atlas error: the first violation decides the code, all are listed."""
    fields: list[FieldViolation] = []
    first: AtlasError | None = None
    for error in errors:
        loc = tuple(error.get("loc", ()))
        kind = error.get("type", "")
        where, rest = (loc[0], loc[1:]) if loc else ("body", ())
        name = field_path(rest)
        fields.append(FieldViolation(name or where, str(error.get("msg", kind))))
        if first is not None:
            continue
        if where in ("query", "path", "header", "cookie"):
            first = InvalidQueryParameter(name)
        elif kind == "json_invalid":
            first = MalformedJson()
        elif not name:
            first = MalformedJson() if kind == "missing" else InvalidJson()
        elif kind == "missing":
            first = MissingAttribute(name)
        elif kind == "extra_forbidden":
            first = InvalidAttribute(name)
        elif kind in _TYPE_ERRORS:
            first = InvalidJsonAttribute(name)
        elif kind in _ENUM_ERRORS:
            first = InvalidEnumValue(error.get("input"))
        else:
            first = InvalidAttribute(name)
    first = first or InvalidJson()
    if isinstance(first, MalformedJson | InvalidJson):
        return first
    first.fields = fields
    return first


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
