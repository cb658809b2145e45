"""Liveness and readiness, outside the Atlas prefix and its conventions."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from atlas_sa.kit.state import app_state

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    try:
        await app_state(request).db.ping()
    except Exception:  # noqa: BLE001 - any failure to reach the database means "not ready", whatever its kind
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
