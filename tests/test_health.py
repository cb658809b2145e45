"""Liveness and readiness probes."""

from __future__ import annotations

import httpx

from atlas_sa.app import create_app
from atlas_sa.kit.db import Database
from tests.support.client import AtlasClient
from tests.support.settings import settings_on


async def test_healthz_and_readyz(client: AtlasClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_readyz_reports_unreachable_database() -> None:
    # A PostgreSQL database needs its master key given (docs/security.md), reachable or not.
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    database = Database(url)
    app = create_app(settings_on(url), database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
    await database.dispose()
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"
