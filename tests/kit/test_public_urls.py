"""The hrefs the server writes start at its public address (``atlas_sa.kit.urls.public_base``): ``ATLAS_SA_ISSUER``
when set, else the address the connection reached; never the request's ``Host`` header."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from atlas_sa.app import create_app
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.settings import Settings
from tests.support.client import AtlasClient
from tests.support.server import bootstrap, live_server

V2 = "/api/atlas/v2"
EVIL = {"Host": "evil.example:666"}


def hrefs(body: dict[str, object]) -> list[str]:
    return [link["href"] for link in body["links"]]  # type: ignore[attr-defined]


async def test_links_ignore_the_host_header(client: AtlasClient) -> None:
    org_id = await client.create_org()
    await client.create_project(org_id, "p1")
    await client.create_project(org_id, "p2")
    for path, params in [
        (f"{V2}/groups", {"itemsPerPage": "1", "pageNum": "2"}),  # self, next and previous
        (f"{V2}/orgs/{org_id}/serviceAccounts", {}),
        (f"{V2}/orgs/{org_id}", {}),  # a single resource's self link
    ]:
        response = await client.get(path, params=params, headers=EVIL)
        assert response.status_code == 200, response.text
        links = hrefs(response.json())
        assert links, path
        for href in links:
            assert href.startswith(f"http://atlas.test{path}"), href
        assert "evil" not in response.text


@pytest.mark.parametrize("issuer", ["https://atlas.example.com", "https://atlas.example.com/"])
async def test_links_start_at_the_configured_public_url(
    settings: Settings, clock: FrozenClock, db: Database, issuer: str
) -> None:
    app = create_app(settings.model_copy(update={"issuer": issuer}), clock=clock, database=db)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with AtlasClient(app=app, transport=transport, base_url="http://atlas.test") as client:
        org_id = await client.create_org()
        for headers in ({}, EVIL):
            response = await client.get(f"{V2}/orgs/{org_id}", headers=headers)
            assert hrefs(response.json()) == [f"https://atlas.example.com{V2}/orgs/{org_id}"]
            response = await client.get(f"{V2}/groups", headers=headers)
            assert hrefs(response.json()) == [f"https://atlas.example.com{V2}/groups?pageNum=1&itemsPerPage=100"]


def test_a_live_server_writes_its_own_address(tmp_path: Path) -> None:
    """Under uvicorn, without ``ATLAS_SA_ISSUER``: the listening socket's address, whatever ``Host`` says."""
    url = f"sqlite:///{tmp_path / 'links.db'}"
    env = {"ATLAS_SA_SECRET_KEY": "links-test-master-key-0123456789"}
    with live_server(url, env=env) as server:
        made = bootstrap(url, env)
        token = server.token(made["clientId"], made["clientSecret"])
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.atlas.2023-01-01+json", **EVIL}
        response = httpx.get(f"{server.base_url}{V2}/orgs", headers=headers)
        assert response.status_code == 200, response.text
        assert hrefs(response.json()) == [f"{server.base_url}{V2}/orgs?pageNum=1&itemsPerPage=100"]


async def test_the_default_issuer_brackets_an_ipv6_address(
    settings: Settings, clock: FrozenClock, db: Database
) -> None:
    """``serve --host ::1``: the issuer and the endpoints named from it are URLs (RFC 3986 §3.2.2), not
    ``http://::1:8443``."""
    app = create_app(settings.model_copy(update={"host": "::1", "port": 8443}), clock=clock, database=db)
    transport = httpx.ASGITransport(app=app, client=("::1", 50000))
    async with AtlasClient(app=app, transport=transport, base_url="http://atlas.test") as client:
        metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == "http://[::1]:8443"
    assert metadata["token_endpoint"] == "http://[::1]:8443/api/oauth/token"
