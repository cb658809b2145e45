"""List pages over real HTTP: links, bounds, past-the-end pages, includeCount."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.support.client import AtlasClient

GROUPS = "/api/atlas/v2/groups"


def links(body: dict[str, object]) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in body["links"]}  # type: ignore[attr-defined]


async def make_projects(client: AtlasClient, count: int) -> list[str]:
    org_id = await client.create_org()
    return [await client.create_project(org_id, f"p{i}") for i in range(count)]


@pytest.mark.usefixtures("owner")
async def test_empty_list(client: AtlasClient) -> None:
    response = await client.get(GROUPS)
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == []
    assert body["totalCount"] == 0
    assert links(body) == {"self": "http://atlas.test/api/atlas/v2/groups?pageNum=1&itemsPerPage=100"}


async def test_pages_and_links(client: AtlasClient) -> None:
    ids = await make_projects(client, 5)
    seen: list[str] = []
    for page, expected_rels in [
        (1, {"self", "next"}),
        (2, {"self", "next", "previous"}),
        (3, {"self", "previous"}),
    ]:
        response = await client.get(f"{GROUPS}?itemsPerPage=2&pageNum={page}")
        assert response.status_code == 200
        body = response.json()
        assert body["totalCount"] == 5
        assert set(links(body)) == expected_rels
        seen += [item["id"] for item in body["results"]]
        href = links(body)["self"]
        assert href == f"http://atlas.test/api/atlas/v2/groups?pageNum={page}&itemsPerPage=2"
        if "next" in links(body):
            assert links(body)["next"] == f"http://atlas.test/api/atlas/v2/groups?itemsPerPage=2&pageNum={page + 1}"
        if "previous" in links(body):
            assert links(body)["previous"].endswith(f"?itemsPerPage=2&pageNum={page - 1}")
    assert seen == sorted(ids), "pages are disjoint, complete, and in creation order"


async def test_past_the_end(client: AtlasClient) -> None:
    await make_projects(client, 3)
    response = await client.get(f"{GROUPS}?itemsPerPage=2&pageNum=9")
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == []
    assert body["totalCount"] == 3
    assert set(links(body)) == {"self", "previous"}


async def test_exact_last_page_has_no_next(client: AtlasClient) -> None:
    await make_projects(client, 4)
    body = (await client.get(f"{GROUPS}?itemsPerPage=2&pageNum=2")).json()
    assert len(body["results"]) == 2
    assert "next" not in links(body)


async def test_include_count_false_omits_total(client: AtlasClient) -> None:
    await make_projects(client, 2)
    body = (await client.get(f"{GROUPS}?includeCount=false")).json()
    assert "totalCount" not in body
    assert len(body["results"]) == 2


async def test_other_query_parameters_come_first_in_links(client: AtlasClient) -> None:
    await make_projects(client, 3)
    body = (await client.get(f"{GROUPS}?includeCount=true&pretty=false&itemsPerPage=1&pageNum=2")).json()
    self_query = parse_qsl(urlsplit(links(body)["self"]).query)
    assert self_query == [
        ("includeCount", "true"),
        ("pretty", "false"),
        ("pageNum", "2"),
        ("itemsPerPage", "1"),
    ]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("itemsPerPage=0", "itemsPerPage"),
        ("itemsPerPage=501", "itemsPerPage"),
        ("itemsPerPage=-5", "itemsPerPage"),
        ("itemsPerPage=abc", "itemsPerPage"),
        ("itemsPerPage=1.5", "itemsPerPage"),
        ("pageNum=-1", "pageNum"),
        ("pageNum=-0.5", "pageNum"),
        ("pageNum=x", "pageNum"),
        ("includeCount=perhaps", "includeCount"),
    ],
)
@pytest.mark.usefixtures("owner")
async def test_bounds(client: AtlasClient, query: str, param: str) -> None:
    response = await client.get(f"{GROUPS}?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == "INVALID_QUERY_PARAMETER"
    assert body["parameters"] == [param]


async def test_page_zero_is_the_first_page(client: AtlasClient) -> None:
    """The Atlas CLI lists projects with ``pageNum=0`` at login; Atlas answers with the first page."""
    await make_projects(client, 3)
    zero = await client.get(f"{GROUPS}?itemsPerPage=2&pageNum=0")
    one = await client.get(f"{GROUPS}?itemsPerPage=2&pageNum=1")
    assert zero.status_code == 200
    assert zero.json() == one.json()
    assert links(zero.json()) == {
        "self": "http://atlas.test/api/atlas/v2/groups?pageNum=1&itemsPerPage=2",
        "next": "http://atlas.test/api/atlas/v2/groups?itemsPerPage=2&pageNum=2",
    }


async def test_atlas_cli_login_lists(client: AtlasClient) -> None:
    """The lists ``atlas auth login`` sends (mongodb-atlas-cli ``internal/cli/default_setter_opts.go``): organizations
    with an empty name filter, then the chosen organization's projects with ``pageNum=0``."""
    org_id = await client.create_org("cli")
    project_id = await client.create_project(org_id, "only")
    orgs = await client.get("/api/atlas/v2/orgs", params={"name": "", "itemsPerPage": 500})
    assert orgs.status_code == 200
    assert [org["id"] for org in orgs.json()["results"]] == [org_id]
    for path in (f"/api/atlas/v2/orgs/{org_id}/groups", GROUPS):
        response = await client.get(path, params={"pageNum": 0, "itemsPerPage": 500})
        assert response.status_code == 200, response.text
        assert [group["id"] for group in response.json()["results"]] == [project_id]
        assert response.json()["totalCount"] == 1


@pytest.mark.parametrize("size", [1, 500])
async def test_bounds_inclusive(client: AtlasClient, size: int) -> None:
    await make_projects(client, 2)
    body = (await client.get(f"{GROUPS}?itemsPerPage={size}")).json()
    assert len(body["results"]) == min(size, 2)


@pytest.mark.parametrize("page", [2**62, 2**63, 10**30])
async def test_enormous_page_number_is_an_empty_page(client: AtlasClient, page: int) -> None:
    org_id = await client.create_org()
    for path in (GROUPS, f"/api/atlas/v2/orgs/{org_id}/groups", f"/api/atlas/v2/orgs/{org_id}/serviceAccounts"):
        response = await client.get(f"{path}?pageNum={page}")
        assert response.status_code == 200, response.text
        assert response.json()["results"] == []
