"""An HTTP client for the app under test: real HTTP semantics through the ASGI transport."""

from __future__ import annotations

from typing import Any

import httpx

SA_VERSION = "2024-08-05"
ORGS_VERSION = "2023-01-01"


def accept(version: str) -> dict[str, str]:
    return {"Accept": f"application/vnd.atlas.{version}+json"}


class AtlasClient(httpx.AsyncClient):
    """Sends a versioned Accept unless told otherwise; a later date than any route's version resolves to the
    route's newest version, as Atlas's own samples rely on."""

    DEFAULT_ACCEPT = "application/vnd.atlas.2025-03-12+json"

    def __init__(self, **kwargs: Any) -> None:
        headers = {"Accept": self.DEFAULT_ACCEPT, **kwargs.pop("headers", {})}
        super().__init__(headers=headers, **kwargs)

    async def create_org(self, name: str = "acme") -> str:
        response = await self.post("/api/atlas/v2/orgs", json={"name": name})
        assert response.status_code == 201, response.text
        org_id: str = response.json()["organization"]["id"]
        return org_id

    async def create_project(self, org_id: str, name: str = "project-1") -> str:
        response = await self.post("/api/atlas/v2/groups", json={"name": name, "orgId": org_id})
        assert response.status_code == 200, response.text
        group_id: str = response.json()["id"]
        return group_id
