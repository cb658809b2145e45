"""Every failure comes out as an Atlas error body: unknown routes and methods, malformed bodies, and no 500s."""

from __future__ import annotations

import pytest

from atlas_sa.kit.db import Database
from atlas_sa.models import Organization
from tests.support.client import AtlasClient
from tests.support.rows import count

ORGS = "/api/atlas/v2/orgs"
ERROR_KEYS = {"detail", "error", "errorCode", "parameters", "reason"}


def assert_atlas_error(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/json"  # type: ignore[attr-defined]
    assert response.headers["x-error-code"] == code  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert set(body) >= ERROR_KEYS
    assert body["error"] == status
    assert body["errorCode"] == code
    return body


@pytest.mark.parametrize("path", ["/api/atlas/v2/nothing", "/nothing", "/api/atlas/v2/orgs/x/y/z"])
async def test_unknown_route_is_atlas_404(client: AtlasClient, path: str) -> None:
    body = assert_atlas_error(await client.get(path), 404, "NOT_FOUND")
    assert body["parameters"] == [path]


async def test_unknown_route_honours_pretty(client: AtlasClient) -> None:
    response = await client.get("/api/atlas/v2/nothing?pretty=true&envelope=true")
    assert response.status_code == 404
    assert response.text.startswith("{\n")
    assert response.json()["content"]["errorCode"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", ORGS, {"GET", "POST"}),
        ("DELETE", ORGS, {"GET", "POST"}),
        ("PATCH", "/api/atlas/v2/groups/" + "a" * 24, {"GET", "DELETE"}),
    ],
)
async def test_wrong_method_is_atlas_405(client: AtlasClient, method: str, path: str, allowed: set[str]) -> None:
    response = await client.request(method, path, json={})
    assert_atlas_error(response, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


@pytest.mark.parametrize(
    ("body", "code", "parameters"),
    [
        (b"{", "MALFORMED_JSON", []),
        (b"", "MALFORMED_JSON", []),
        (b"not json", "MALFORMED_JSON", []),
        (b"[]", "INVALID_JSON", []),
        (b"42", "INVALID_JSON", []),
        (b'{"name": 42}', "INVALID_JSON_ATTRIBUTE", ["name"]),
        (b'{"name": null}', "INVALID_JSON_ATTRIBUTE", ["name"]),
        (b"{}", "MISSING_ATTRIBUTE", ["name"]),
        (b'{"name": ""}', "INVALID_ATTRIBUTE", ["name"]),
        (b'{"name": "' + b"x" * 65 + b'"}', "INVALID_ATTRIBUTE", ["name"]),
        (b'{"name": "a<script>"}', "INVALID_ATTRIBUTE", ["name"]),
        (b'{"name": "ok", "surprise": 1}', "INVALID_ATTRIBUTE", ["surprise"]),
    ],
)
@pytest.mark.usefixtures("owner")
async def test_body_validation(
    client: AtlasClient, db: Database, body: bytes, code: str, parameters: list[str]
) -> None:
    response = await client.post(ORGS, content=body, headers={"Content-Type": "application/json"})
    error = assert_atlas_error(response, 400, code)
    assert error["parameters"] == parameters
    if parameters:
        fields = error["badRequestDetail"]["fields"]  # type: ignore[index]
        assert parameters[0] in [f["field"] for f in fields]
    # Only the caller's own organization: nothing was created.
    assert await count(db, Organization) == 1


async def test_every_violation_is_listed(client: AtlasClient) -> None:
    org_id = await client.create_org()
    response = await client.post("/api/atlas/v2/groups", json={"name": "", "orgId": org_id[:5], "extra": True})
    error = assert_atlas_error(response, 400, "INVALID_ATTRIBUTE")
    fields = {f["field"] for f in error["badRequestDetail"]["fields"]}  # type: ignore[index]
    assert fields == {"name", "orgId", "extra"}


@pytest.mark.parametrize(
    "junk",
    [
        b"\xff\xfe\x00",
        b'{"name": "\\ud800"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"name": "a", "name": 3}',
        b'{"name": 1e999}',
        b"\x00" * 100,
        '{"name": "é"}'.encode("latin-1"),
    ],
)
@pytest.mark.usefixtures("owner")
async def test_junk_bodies_never_500(client: AtlasClient, junk: bytes) -> None:
    response = await client.post(ORGS, content=junk, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in response.text
    assert response.json()["errorCode"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/atlas/v2/orgs/%00",
        "/api/atlas/v2/orgs/" + "f" * 5000,
        "/api/atlas/v2/groups/byName/%ff%fe",
        "/api/atlas/v2/orgs/..%2F..%2Fetc",
        "/api/atlas/v2/orgs/%2e%2e",
    ],
)
@pytest.mark.usefixtures("owner")
async def test_junk_paths_never_500(client: AtlasClient, path: str) -> None:
    response = await client.get(path)
    assert 400 <= response.status_code < 500
    assert response.json()["errorCode"]
