"""Atlas content negotiation, read once per request.

``envelope`` and ``pretty`` are parsed by :class:`FormatMiddleware` before routing, so that 404s and 405s for unknown
routes honour them too. The resource version is resolved by the route, which knows the versions it serves
(:func:`resolve_version`): Atlas serves the newest resource version whose date is on or before the requested date.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_sa.errors import InvalidVersionDate, UnsupportedMediaType

VENDOR_MEDIA_RE = re.compile(r"^application/vnd\.atlas\.(\d{4}-\d{2}-\d{2})\+json$")


def vendor_media_type(version: str) -> str:
    return f"application/vnd.atlas.{version}+json"


@dataclass(slots=True)
class RequestFormat:
    envelope: bool = False
    pretty: bool = False
    version: str | None = None
    # Name of an ``envelope``/``pretty`` parameter with a value that is not a boolean; the route reports it.
    bad_parameter: str | None = None


_current: ContextVar[RequestFormat | None] = ContextVar("atlas_request_format", default=None)
_DEFAULT = RequestFormat()

_TRUE = {"true", "1"}
_FALSE = {"false", "0", ""}


def current_format() -> RequestFormat:
    return _current.get() or _DEFAULT


def parse_format(query_string: bytes) -> RequestFormat:
    fmt = RequestFormat()
    # Most requests carry neither parameter: skip the parse entirely for them.
    if b"envelope" not in query_string and b"pretty" not in query_string:
        return fmt
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name not in ("envelope", "pretty"):
            continue
        lowered = value.lower()
        if lowered in _TRUE:
            setattr(fmt, name, True)
        elif lowered in _FALSE:
            setattr(fmt, name, False)
        elif fmt.bad_parameter is None:
            fmt.bad_parameter = name
    return fmt


# Sent by Atlas on every response; harmless and protective for an API that browsers never need to render.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]


class FormatMiddleware:
    """Reads ``envelope`` and ``pretty`` once, for every HTTP request, before routing; adds Atlas's security
    headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        token = _current.set(parse_format(scope.get("query_string", b"")))
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            _current.reset(token)


def _requested_dates(accept: str) -> list[date]:
    dates = []
    for media_range in accept.split(","):
        media_type = media_range.split(";", 1)[0].strip().lower()
        match = VENDOR_MEDIA_RE.match(media_type)
        if match is None:
            continue
        try:
            dates.append(date.fromisoformat(match.group(1)))
        except ValueError:
            continue
    return dates


def resolve_version(accept: str | None, versions: tuple[str, ...]) -> str:
    """The newest of ``versions`` (ISO dates, ascending) on or before the date the Accept header asks for.

    A missing Accept, ``application/json``, ``*/*``, ``preview``, a malformed date or one older than every version
    is 406 ``INVALID_VERSION_DATE``, as Atlas answers.
    """
    if accept:
        best: str | None = None
        for requested in _requested_dates(accept):
            iso = requested.isoformat()
            candidates = [v for v in versions if v <= iso]
            if candidates and (best is None or candidates[-1] > best):
                best = candidates[-1]
        if best is not None:
            return best
    raise InvalidVersionDate


def check_request_media_type(content_type: str | None) -> None:
    """Bodies are accepted as ``application/json`` or any ``application/vnd.atlas.<date>+json``; else 415."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        return
    match = VENDOR_MEDIA_RE.match(media_type)
    if match is not None:
        try:
            date.fromisoformat(match.group(1))
        except ValueError:
            pass
        else:
            return
    raise UnsupportedMediaType(media_type or "(none)")
