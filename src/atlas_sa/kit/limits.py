"""Request limits: body size (413 in Atlas's error form, whether the size is declared up front or streamed), body
read time (408: the whole body must arrive within the request timeout), and header read time (the request line and
headers must arrive within the header timeout, enforced in uvicorn's HTTP protocol, below the ASGI app).

uvicorn closes idle keep-alive connections but has no read timeout for a request's headers or body: a client that
trickles either holds a connection (and, for a body, a request task and its database session) for as long as it
likes. The body deadline lives here, at the ASGI level: every ``receive()`` of an unfinished body waits at most until
``start + request_timeout``. The header deadline cannot: no ASGI code runs before the headers are complete, so
:func:`header_timeout_protocol` subclasses uvicorn's httptools protocol with a timer armed when a connection opens
and when a request's first byte arrives, disarmed when its headers are complete.

The same protocol closes connections in stages (RFC 9112 §9.6), which matters most for those limits: a 408 or 413
usually goes to a client still sending. Closed at once, a socket with the client's next bytes unread answers them
with a reset, and the reset makes the client's TCP stack drop the response it had not read yet. So the server sends
its FIN after the response, reads and discards whatever still arrives, and closes when the client does or after
:data:`LINGER_SECONDS`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_sa.errors import PayloadTooLarge, RequestTimeout
from atlas_sa.kit.rendering import render_error


class BodyTooLarge(HTTPException):
    # An HTTPException, not an AtlasError: FastAPI re-raises HTTPExceptions met while reading a body, while any
    # other exception there becomes a generic 400. The error handler renders 413 as ``PAYLOAD_TOO_LARGE``.
    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodyTimedOut(HTTPException):
    # As BodyTooLarge; the error handler renders 408 as ``REQUEST_TIMEOUT``.
    def __init__(self) -> None:
        super().__init__(status_code=408)


def seconds(value: float) -> int | float:
    """A duration as a JSON number: ``30`` rather than ``30.0``."""
    return int(value) if float(value).is_integer() else value


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout: float | None = None) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    await render_error(PayloadTooLarge(self.limit))(scope, receive, send)
                    return
        received = 0
        complete = False
        deadline = asyncio.get_running_loop().time() + self.timeout if self.timeout is not None else None

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete or deadline is None:
                # Once the body is in, ``receive`` waits for the disconnect: no deadline on that.
                message = await receive()
            else:
                try:
                    # ``timeout_at`` rather than ``wait_for``: no task per call (~3% of a token request's CPU).
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    raise BodyTimedOut from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited_receive, send)


def _timeout_response(timeout: float) -> bytes:
    error = RequestTimeout(seconds(timeout))
    body = json.dumps(error.body(), separators=(",", ":")).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"x-error-code: {error.error_code}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


LINGER_SECONDS = 2.0


class LingeringTransport:
    """A connection's transport whose ``close()`` half-closes, drains and only then closes (see the module)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self.lingering = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.is_closing():
            return
        if not self._transport.can_write_eof():
            self._transport.close()
            return
        self.lingering = True
        # Sent after the buffered response; the transport keeps reading, and closes by itself at the client's EOF.
        self._transport.write_eof()
        self._transport.resume_reading()  # drained even if flow control had paused it
        self._loop.call_later(LINGER_SECONDS, self._transport.close)


def header_timeout_protocol(timeout: float) -> Any:
    """uvicorn's ``http`` protocol class, with a deadline on reading a request's line and headers: past it, the
    connection gets a 408 in Atlas's error form and is closed. ``"auto"`` (no header deadline) where httptools,
    the protocol this extends, is not installed."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: PLC0415 - serve only
    except ImportError:  # pragma: no cover - httptools is a locked dependency
        return "auto"

    response = _timeout_response(timeout)

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _lingering: LingeringTransport

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._lingering = LingeringTransport(transport, self.loop)
            super().connection_made(cast("asyncio.Transport", self._lingering))
            self._arm()

        def data_received(self, data: bytes) -> None:
            if not self._lingering.lingering:  # once the response is out, what the client still sends is dropped
                super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(timeout, self._headers_timed_out)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_timed_out(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.write(response)
                self.transport.close()

    return HeaderTimeoutProtocol
