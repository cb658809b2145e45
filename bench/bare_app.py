"""The ceiling for the authenticated-read benchmark: one bare JSON endpoint on the same framework and server, configured
as atlas-sa runs them (FastAPI's telemetry off; bench.py starts uvicorn with the asyncio loop, atlas-sa's default)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response

app = FastAPI(
    docs_url=None, redoc_url=None, openapi_url=None, telemetry={"tracing": False, "metrics": False, "logs": False}
)
BODY = b'{"clientId":"mdb_sa_id_000000000000000000000000","name":"bare","roles":["ORG_OWNER"]}'


@app.get("/bare")
async def bare() -> Response:
    return Response(BODY, media_type="application/json")
