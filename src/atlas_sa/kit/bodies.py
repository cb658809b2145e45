"""Request body limits: size (413 in Atlas's error form, whether the size is declared up front or streamed) and read
time (408: the whole body must arrive within the request timeout).

uvicorn has no read timeout for a request's body: a client that trickles one holds a connection, a request task and
its database session for as long as it likes. So every ``receive()`` of an unfinished body waits at most until
``start + request_timeout``. The header limits, which no ASGI code can enforce, are in the protocol ``atlas-sa serve``
gives uvicorn (:mod:`atlas_sa.cli.protocol`).
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_sa.errors import PayloadTooLarge
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

        try:
            await self.app(scope, limited_receive, send)
        except ClientDisconnect:
            # The client left, or its framing broke (the protocol below answered it), before its body was read:
            # there is no one to answer and nothing went wrong here. Returning lets uvicorn end the request quietly.
            return
