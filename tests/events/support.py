"""Reading events back for the tests: through the API, as a Digest API key (which no organization setting
locks out), oldest first when a test compares what one request recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.client import AtlasClient

V2 = "/api/atlas/v2"
OWNER_ADDRESS = "203.0.113.7"  # where the ``client`` fixture's requests come from


def reader_of(client: AtlasClient) -> AtlasClient:
    """A client of the same app signed in with the API key ``client``'s bootstrap made (ORG_OWNER)."""
    assert client.credentials is not None
    reader = client.anonymous()
    reader.auth = httpx.DigestAuth(client.credentials.public_key, client.credentials.private_key)
    return reader


async def org_events(reader: AtlasClient, org_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every event of the organization, newest first, raw included."""
    response = await reader.get(
        f"{V2}/orgs/{org_id}/events", params={"includeRaw": "true", "itemsPerPage": 500, **params}
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


@dataclass
class Marker:
    """The events an organization had at one moment; :meth:`since` gives those recorded after it."""

    reader: AtlasClient
    org_id: str
    seen: set[str]

    @classmethod
    async def now(cls, reader: AtlasClient, org_id: str) -> Marker:
        return cls(reader, org_id, {e["id"] for e in await org_events(reader, org_id)})

    async def since(self) -> list[dict[str, Any]]:
        """The new events, oldest first."""
        return [e for e in reversed(await org_events(self.reader, self.org_id)) if e["id"] not in self.seen]
