"""The app in this process, behind ``httpx.ASGITransport``, on a seeded database (``bench.seed``), with a bearer
token of the seeded owner: what the in-process CPU benchmarks (``list_cpu.py``, ``write_cpu.py``) send through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from tests.support.client import basic

from atlas_sa.app import create_app
from atlas_sa.migrations import upgrade
from atlas_sa.settings import Settings
from bench.seed import seed

MASTER_KEY = "bench-master-key-" + "0123456789abcdef"
ACCEPT = "application/vnd.atlas.2025-03-12+json"


@asynccontextmanager
async def seeded_client(database_url: str, count: int) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """A client of a new app on ``database_url`` (migrated, then ``count`` accounts seeded), authorised as the
    seeded owner, and that owner's credential (``clientId``, ``orgId``, ``groupId``...)."""
    upgrade(database_url)
    credential = seed(database_url, count, MASTER_KEY)
    settings = Settings(database_url=database_url, secret_key=MASTER_KEY, access_log=False, rate_limits_enabled=False)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench.test", headers={"Accept": ACCEPT}) as c:
        token = await c.post(
            "/api/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(credential["clientId"], credential["clientSecret"]),
        )
        c.headers["Authorization"] = "Bearer " + token.json()["access_token"]
        yield c, credential
