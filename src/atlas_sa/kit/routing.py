"""Routes that speak Atlas: each declares the resource versions it serves; the wrapper negotiates the version,
admits the URL's and the body's text (:mod:`atlas_sa.kit.text`), checks the request media type, and runs the
endpoint inside one unit of work that commits before the response leaves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from atlas_sa.errors import FieldViolation, InvalidAttribute, InvalidPathParameter, InvalidQueryParameter
from atlas_sa.kit.negotiation import (
    check_request_media_type,
    current_format,
    resolve_version,
    vendor_media_type,
)
from atlas_sa.kit.text import RULE, bad_json_location, bad_url_parameter
from atlas_sa.kit.violations import field_path

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SESSION_KEY = "atlas_sa.session"
# Set by the rate limit (:mod:`atlas_sa.auth.ratelimits`, run once the caller is authenticated): headers for the
# response, success or error.
RATE_LIMIT_HEADERS = "atlas_sa.ratelimit_headers"


def _versioned_response_class(version: str) -> type[Response]:
    # Only for the generated OpenAPI document, which keys response bodies by media type; rendering itself goes
    # through :mod:`atlas_sa.kit.rendering`.
    return type(f"AtlasJSON_{version.replace('-', '_')}", (JSONResponse,), {"media_type": vendor_media_type(version)})


class AtlasRoute(APIRoute):
    versions: tuple[str, ...] = ()

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if self.versions:
            kwargs["response_class"] = _versioned_response_class(self.versions[-1])
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        versions = self.versions
        takes_body = self.body_field is not None
        path_regex = self.path_regex

        async def handler(request: Request) -> Response:
            fmt = current_format()
            if fmt.bad_parameter is not None:
                raise InvalidQueryParameter(fmt.bad_parameter)
            admit_url(request, path_regex)
            if versions:
                fmt.version = resolve_version(request.headers.get("accept"), versions)
            content_type = None
            if takes_body:
                content_type = request.headers.get("content-type")
                if content_type is not None or request.headers.get("content-length", "0") != "0":
                    check_request_media_type(content_type)
            try:
                if content_type is not None:
                    await admit_json_body(request)
                response = await original(request)
            except BaseException as exc:
                await _finish(request, commit=False)
                if request.scope.get(RATE_LIMIT_HEADERS) and isinstance(exc, Exception):
                    return _with_rate_headers(request, await handled_error_response(request, exc))
                raise
            await _finish(request, commit=response.status_code < 400)
            return _with_rate_headers(request, response) if RATE_LIMIT_HEADERS in request.scope else response

        return handler


def admit_url(request: Request, path_regex: re.Pattern[str]) -> None:
    """400 when a path or query parameter is not admissible text (:mod:`atlas_sa.kit.text`)."""
    bad = bad_url_parameter(request.scope, path_regex)
    if bad is not None:
        where, name = bad
        raise InvalidPathParameter(name) if where == "path" else InvalidQueryParameter(name)


async def admit_json_body(request: Request) -> None:
    """400 ``INVALID_ATTRIBUTE`` naming the field when a key or string of the JSON body is not admissible text.

    The body is decoded here the way FastAPI decodes it, and Starlette's request keeps the result, so FastAPI's own
    read reuses it: one decoding. A body that does not decode is left to FastAPI, which reports it."""
    try:
        if not await request.body():
            return
        document = await request.json()
    except (ValueError, RecursionError, ClientDisconnect):
        return
    location = bad_json_location(document)
    # A bare string as the whole body is the wrong type for every route: FastAPI reports that (INVALID_JSON).
    if location:
        name = field_path(location)
        raise InvalidAttribute(name, fields=[FieldViolation(name, RULE)])


async def handled_error_response(request: Request, exc: Exception) -> Response:
    """The response the app's handler for ``exc`` renders, here so the rate-limit headers can join it; unexpected
    errors (handled only by the server-error middleware) propagate as before."""
    for cls in type(exc).__mro__:
        if cls is Exception:
            break
        handler = request.app.exception_handlers.get(cls)
        if handler is not None:
            response: Response = await handler(request, exc)
            return response
    raise exc


def _with_rate_headers(request: Request, response: Response) -> Response:
    response.headers.update(request.scope.get(RATE_LIMIT_HEADERS) or {})
    return response


async def _finish(request: Request, *, commit: bool) -> None:
    session: AsyncSession | None = request.scope.pop(_SESSION_KEY, None)
    if session is None:
        return
    try:
        if commit:
            await session.commit()
        else:
            await session.rollback()
    finally:
        await session.close()


async def request_session(request: Request) -> AsyncSession:
    """The request's unit of work, opened on first use; write requests take the write lock up front on SQLite.

    Dependencies are ``async def`` on purpose, here and in every feature: FastAPI runs plain ``def`` dependencies
    in a thread pool, a hop that costs more than the work they do.
    """
    session: AsyncSession | None = request.scope.get(_SESSION_KEY)
    if session is None:
        session = request.app.state.atlas.db.session(write=request.method not in SAFE_METHODS)
        request.scope[_SESSION_KEY] = session
    return session


def atlas_router(*versions: str, **kwargs: Any) -> APIRouter:
    """A router whose routes serve the given resource versions (ISO dates). Without versions, the routes are
    unversioned, as Atlas's private endpoints are: any Accept, successes in plain ``application/json``; the unit of
    work, Atlas error bodies, ``envelope`` and ``pretty`` as on every other route."""
    route_class = type("AtlasRoute", (AtlasRoute,), {"versions": tuple(sorted(versions))})
    return APIRouter(route_class=route_class, **kwargs)
