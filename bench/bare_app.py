"""The ceilings of the read benchmarks: one JSON endpoint that does no work, on three stacks, each served as atlas-sa
serves (``bench/bare_serve.py``: the same uvicorn configuration, HTTP protocol and event loop).

- ``fastapi``: a FastAPI route (telemetry off, as atlas-sa runs it): what routing and a response cost there.
- ``starlette``: a plain Starlette route, the framework FastAPI is built on, without FastAPI's request handling.
- ``raw``: a bare ASGI callable: what uvicorn itself costs per request, the floor of any Python answer.

All three answer ``GET /bare`` with the same body and content type; the raw one answers every path alike.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

BODY = b'{"clientId":"mdb_sa_id_000000000000000000000000","name":"bare","roles":["ORG_OWNER"]}'

fastapi_app = FastAPI(
    docs_url=None, redoc_url=None, openapi_url=None, telemetry={"tracing": False, "metrics": False, "logs": False}
)


@fastapi_app.get("/bare")
async def bare() -> Response:
    return Response(BODY, media_type="application/json")


async def _starlette_bare(_request: Request) -> Response:
    return Response(BODY, media_type="application/json")


starlette_app = Starlette(routes=[Route("/bare", _starlette_bare)])

_RAW_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
}
_RAW_BODY = {"type": "http.response.body", "body": BODY}


async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":  # lifespan: nothing to start or stop
        return
    await send(_RAW_START)
    await send(_RAW_BODY)


APPS = {"fastapi": fastapi_app, "starlette": starlette_app, "raw": raw_app}
