"""Accept → resource version, request media types, envelope and pretty: through real HTTP, every case."""

from __future__ import annotations

import json

import pytest

from atlas_sa.errors import InvalidVersionDate
from atlas_sa.kit.db import Database
from atlas_sa.kit.negotiation import parse_format, resolve_version
from atlas_sa.models import Organization
from tests.support.client import AtlasClient
from tests.support.rows import count

ORGS = "/api/atlas/v2/orgs"


@pytest.mark.parametrize(
    ("accept", "versions", "expected"),
    [
        ("application/vnd.atlas.2024-08-05+json", ("2024-08-05",), "2024-08-05"),
        ("application/vnd.atlas.2025-03-12+json", ("2024-08-05",), "2024-08-05"),
        ("application/vnd.atlas.2024-09-01+json", ("2023-01-01", "2024-08-05"), "2024-08-05"),
        ("application/vnd.atlas.2024-01-01+json", ("2023-01-01", "2024-08-05"), "2023-01-01"),
        ("application/json, application/vnd.atlas.2024-08-05+json", ("2024-08-05",), "2024-08-05"),
        ("APPLICATION/VND.ATLAS.2024-08-05+JSON; charset=utf-8", ("2024-08-05",), "2024-08-05"),
    ],
)
def test_resolve_version_picks_newest_on_or_before(accept: str, versions: tuple[str, ...], expected: str) -> None:
    assert resolve_version(accept, versions) == expected


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "application/json",
        "*/*",
        "application/vnd.atlas.preview+json",
        "application/vnd.atlas.2024-02-30+json",
        "application/vnd.atlas.2024-8-5+json",
        "application/vnd.atlas.2024-08-04+json",
        "text/html",
    ],
)
def test_resolve_version_refuses(accept: str | None) -> None:
    with pytest.raises(InvalidVersionDate):
        resolve_version(accept, ("2024-08-05",))


ACCEPT_CASES = [
    # (Accept header or None to send none, expected status, expected success media type)
    ("application/vnd.atlas.2023-01-01+json", 200, "application/vnd.atlas.2023-01-01+json;charset=utf-8"),
    ("application/vnd.atlas.2024-08-05+json", 200, "application/vnd.atlas.2023-01-01+json;charset=utf-8"),
    (
        "application/vnd.atlas.2025-03-12+json;charset=utf-8",
        200,
        "application/vnd.atlas.2023-01-01+json;charset=utf-8",
    ),
    ("application/vnd.atlas.2022-12-31+json", 406, None),
    ("application/vnd.atlas.2023-13-01+json", 406, None),
    ("application/vnd.atlas.preview+json", 406, None),
    ("application/json", 406, None),
    ("*/*", 406, None),
    ("garbage;;;", 406, None),
    (None, 406, None),
]


@pytest.mark.parametrize(("accept", "status", "media_type"), ACCEPT_CASES)
@pytest.mark.usefixtures("owner")
async def test_accept_header_over_http(
    client: AtlasClient, accept: str | None, status: int, media_type: str | None
) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    request = client.build_request("GET", ORGS, headers=headers)
    if accept is None:
        del request.headers["Accept"]
    response = await client.send(request)
    assert response.status_code == status
    if status == 200:
        assert response.headers["content-type"] == media_type
        assert response.json()["totalCount"] == 1
    else:
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-error-code"] == "INVALID_VERSION_DATE"
        assert response.json() == {
            "detail": "Invalid accept header or version date.",
            "error": 406,
            "errorCode": "INVALID_VERSION_DATE",
            "parameters": [],
            "reason": "Not Acceptable",
        }


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 201),
        ("application/json; charset=utf-8", 201),
        ("application/vnd.atlas.2023-01-01+json", 201),
        ("application/vnd.atlas.2024-08-05+json", 201),
        ("text/plain", 415),
        ("application/xml", 415),
        ("application/x-www-form-urlencoded", 415),
        ("application/vnd.atlas.2024-99-01+json", 415),
        (None, 415),
    ],
)
@pytest.mark.usefixtures("owner")
async def test_request_media_type(client: AtlasClient, db: Database, content_type: str | None, status: int) -> None:
    request = client.build_request("POST", ORGS, content=b'{"name": "acme"}')
    if content_type is None:
        request.headers.pop("Content-Type", None)
    else:
        request.headers["Content-Type"] = content_type
    response = await client.send(request)
    assert response.status_code == status, response.text
    if status == 415:
        assert response.json()["errorCode"] == "UNSUPPORTED_MEDIA_TYPE"
        assert await count(db, Organization) == 1, "a refused request must change nothing"


async def test_media_type_checked_after_version(client: AtlasClient) -> None:
    response = await client.post(ORGS, content=b"x", headers={"Accept": "application/json", "Content-Type": "text/x"})
    assert response.status_code == 406


@pytest.mark.parametrize("envelope", [False, True])
@pytest.mark.parametrize("pretty", [False, True])
@pytest.mark.parametrize("outcome", ["object", "list", "error", "created"])
async def test_envelope_and_pretty(client: AtlasClient, envelope: bool, pretty: bool, outcome: str) -> None:
    org_id = await client.create_org("acme")
    query = f"?envelope={str(envelope).lower()}&pretty={str(pretty).lower()}"
    if outcome == "object":
        response = await client.get(f"{ORGS}/{org_id}{query}")
        status, inner_key = 200, "name"
    elif outcome == "list":
        response = await client.get(f"{ORGS}{query}")
        status, inner_key = 200, "results"
    elif outcome == "created":
        response = await client.post(f"{ORGS}{query}", json={"name": "other"})
        status, inner_key = 201, "organization"
    else:
        response = await client.get(f"{ORGS}/{'0' * 24}{query}")
        status, inner_key = 404, "errorCode"
    assert response.status_code == status
    text = response.text
    body = json.loads(text)
    if pretty:
        assert text.startswith('{\n  "'), text
    else:
        assert "\n" not in text
        assert text == json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    if envelope and outcome == "list":
        assert body["status"] == status
        assert inner_key in body
    elif envelope:
        assert set(body) == {"status", "content"}
        assert body["status"] == status
        assert inner_key in body["content"]
    else:
        assert "status" not in body
        assert inner_key in body


async def test_delete_stays_empty_with_envelope(client: AtlasClient) -> None:
    org_id = await client.create_org()
    group_id = await client.create_project(org_id)
    response = await client.delete(f"/api/atlas/v2/groups/{group_id}?envelope=true&pretty=true")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize("param", ["envelope", "pretty"])
async def test_non_boolean_format_parameter(client: AtlasClient, param: str) -> None:
    response = await client.get(f"{ORGS}?{param}=maybe")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "INVALID_QUERY_PARAMETER"
    assert response.json()["parameters"] == [param]


def test_parse_format_values() -> None:
    assert parse_format(b"").envelope is False
    fmt = parse_format(b"envelope=TRUE&pretty=1")
    assert (fmt.envelope, fmt.pretty, fmt.bad_parameter) == (True, True, None)
    assert parse_format(b"pretty=yes").bad_parameter == "pretty"


@pytest.mark.parametrize("path", [ORGS, "/api/atlas/v2/nothing", "/healthz"])
async def test_security_headers_on_every_response(client: AtlasClient, path: str) -> None:
    response = await client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
