"""Atlas list pages: ``pageNum`` / ``itemsPerPage`` / ``includeCount`` in, ``{links, results, totalCount}`` out.

``pageNum=0`` is the first page, as Atlas answers it: the Atlas CLI sends it when it lists an organization's projects
at login (its list options leave the page at Go's zero value and the SDK sends it). Negative and non-integer values
are 400 ``INVALID_QUERY_PARAMETER``. The page served, and every link, says ``pageNum=1``.

Links follow what real Atlas responses show: ``self`` carries the request's other query parameters first, then
``pageNum`` and ``itemsPerPage``; ``next`` and ``previous`` carry ``itemsPerPage`` before ``pageNum``. ``next`` is
present only when more items exist, ``previous`` only after the first page. Hrefs start at the server's public
address (:func:`atlas_sa.kit.urls.public_base`), never at the request's ``Host`` header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import Query
from pydantic import BaseModel
from starlette.requests import Request

from atlas_sa.kit.pagination import DEFAULT_ITEMS_PER_PAGE, MAX_ITEMS_PER_PAGE, PageRequest, first_page_for_zero
from atlas_sa.kit.rendering import to_jsonable
from atlas_sa.kit.urls import public_base

_PAGING_PARAMS = frozenset({"pageNum", "itemsPerPage"})


PageNum = Annotated[
    int,
    Query(
        alias="pageNum",
        ge=0,
        description="Number of the page that displays the current set of the total objects that the response returns."
        " 0 is the first page, as 1 is.",
    ),
]
ItemsPerPage = Annotated[
    int,
    Query(
        alias="itemsPerPage",
        ge=1,
        le=MAX_ITEMS_PER_PAGE,
        description="Number of items that the response returns per page.",
    ),
]
IncludeCount = Annotated[
    bool,
    Query(
        alias="includeCount",
        description="Flag that indicates whether the response returns the total number of items (`totalCount`).",
    ),
]


async def paging(page_num: PageNum = 1, items_per_page: ItemsPerPage = DEFAULT_ITEMS_PER_PAGE) -> PageRequest:
    """For list operations without ``includeCount`` (the service-account lists): the count is always given."""
    return PageRequest(first_page_for_zero(page_num), items_per_page, True)


async def paging_with_count(
    page_num: PageNum = 1,
    items_per_page: ItemsPerPage = DEFAULT_ITEMS_PER_PAGE,
    include_count: IncludeCount = True,
) -> PageRequest:
    return PageRequest(first_page_for_zero(page_num), items_per_page, include_count)


def _href(base: str, others: list[tuple[str, str]], tail: list[tuple[str, int]]) -> str:
    return f"{base}?{urlencode([*others, *tail])}"


def page_links(request: Request, page: PageRequest, total: int) -> list[dict[str, str]]:
    base = public_base(request) + request.url.path
    others = [(k, v) for k, v in request.query_params.multi_items() if k not in _PAGING_PARAMS]
    links = [
        {
            "href": _href(base, others, [("pageNum", page.page_num), ("itemsPerPage", page.items_per_page)]),
            "rel": "self",
        },
    ]
    if page.page_num > 1:
        links.append(
            {
                "href": _href(base, others, [("itemsPerPage", page.items_per_page), ("pageNum", page.page_num - 1)]),
                "rel": "previous",
            }
        )
    if page.offset + page.items_per_page < total:
        links.append(
            {
                "href": _href(base, others, [("itemsPerPage", page.items_per_page), ("pageNum", page.page_num + 1)]),
                "rel": "next",
            }
        )
    return links


def paginated(
    request: Request,
    page: PageRequest,
    results: Sequence[BaseModel | dict[str, Any]] | orjson.Fragment,
    total: int,
) -> dict[str, Any]:
    """A list page's body; ``results`` may be the page's items already written as JSON text
    (:func:`~atlas_sa.kit.rendering.json_text`)."""
    body: dict[str, Any] = {
        "links": page_links(request, page, total),
        "results": results if isinstance(results, orjson.Fragment) else [to_jsonable(item) for item in results],
    }
    if page.include_count:
        body["totalCount"] = total
    return body


def self_link(request: Request, path: str) -> list[dict[str, str]]:
    """The ``links`` of a single resource: its own URL on this server."""
    return [{"href": public_base(request) + path, "rel": "self"}]
