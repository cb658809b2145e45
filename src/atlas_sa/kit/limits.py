"""Request body size limit: 413 in Atlas's error form, whether the size is declared up front or streamed."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_sa.errors import PayloadTooLarge
from atlas_sa.kit.rendering import render_error


class BodyTooLarge(HTTPException):
    # An HTTPException, not an AtlasError: FastAPI re-raises HTTPExceptions met while reading a body, while any
    # other exception there becomes a generic 400. The error handler renders 413 as ``PAYLOAD_TOO_LARGE``.
    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

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

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
            return message

        await self.app(scope, limited_receive, send)
