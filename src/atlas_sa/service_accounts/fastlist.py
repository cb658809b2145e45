"""The list fast path: ``GET /api/atlas/v2/orgs/{orgId}/serviceAccounts`` (listOrgServiceAccounts) without FastAPI's
router.

A page cannot be cached as a read is (any account on it may change), but the routed request around its one statement
cost more than the statement and the page's rendering together: FastAPI's routing, its dependency solving and the
request wrappers were most of a page's CPU (py-spy, docs/performance.md "Lists"). This path runs the route's own
pieces without them: the app's cached authentication (:meth:`~atlas_sa.identity.caller.Authenticator.admit_cached`,
as the read fast path), the repository's page statement (:func:`~atlas_sa.service_accounts.repository.page_in_org`,
whose one row carries the page's results as JSON text the database wrote) and the route's renderer
(:func:`listed_page`, :func:`~atlas_sa.kit.rendering.ok`), so its answers are the route's, byte for byte
(tests/service_accounts/test_fastlist.py).

Whatever it cannot decide alone goes to the route, which answers as always, errors included: a query parameter other
than ``pageNum``, ``itemsPerPage``, ``includeSystemManaged``, ``envelope`` and ``pretty``, one given twice or with a
value the route might read differently than this path does (the route validates it); a malformed organization id; an
Accept header without a usable version; a caller the cached authentication does not admit; an organization the
statement did not find (a role in an organization that no longer exists: the route answers its 404).

The project list (listGroupServiceAccounts) stays routed: its requirement is a role in the project's organization,
which only its statement reads, and the cached authentication decides before any read.

Sync or async: one await on the database per page. The statement is the page's whole unit of work, so it runs on a
read connection of its own without a session or a transaction (:meth:`~atlas_sa.kit.db.Database.read_rows`: the
session's begin and close were a tenth of a page's CPU, PostgreSQL's BEGIN and ROLLBACK two round trips); the route
runs the same statement in the request's session.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from atlas_sa.errors import InvalidVersionDate
from atlas_sa.identity.caller import Authenticator
from atlas_sa.kit.db import Database
from atlas_sa.kit.fastpath import FastRoute, header
from atlas_sa.kit.ids import is_object_id
from atlas_sa.kit.negotiation import current_format, resolve_version
from atlas_sa.kit.pagination import (
    DEFAULT_ITEMS_PER_PAGE,
    MAX_ITEMS_PER_PAGE,
    PageRequest,
    first_page_for_zero,
)
from atlas_sa.kit.rendering import ok
from atlas_sa.service_accounts.endpoints import listed_page
from atlas_sa.service_accounts.repository import page_in_org
from atlas_sa.service_accounts.service import LIST_ORG_REQUIREMENT

# The route's path (``ORG_ACCOUNTS`` in endpoints.py).
ORG_ACCOUNTS_PATH = re.compile(r"/api/atlas/v2/orgs/([^/]+)/serviceAccounts")
_NUMBER = re.compile(r"[0-9]{1,18}")
_FORMAT_PARAMETERS = frozenset({"envelope", "pretty"})
_BOOLEANS = {"true": True, "false": False}


def page_query(query_string: bytes) -> tuple[PageRequest, bool] | None:
    """The page and ``includeSystemManaged`` a query asks for, when this path reads it as the route does; else
    ``None``. Numbers are plain digits within the route's bounds, the flag ``true`` or ``false``; ``envelope`` and
    ``pretty`` are the format middleware's."""
    values: dict[str, str] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in values:
            return None
        values[name] = value
    page_num, per_page = values.pop("pageNum", "1"), values.pop("itemsPerPage", str(DEFAULT_ITEMS_PER_PAGE))
    system_managed = _BOOLEANS.get(values.pop("includeSystemManaged", "false"))
    if values.keys() - _FORMAT_PARAMETERS or system_managed is None:
        return None
    if not (_NUMBER.fullmatch(page_num) and _NUMBER.fullmatch(per_page)):
        return None
    items = int(per_page)
    if not 1 <= items <= MAX_ITEMS_PER_PAGE:
        return None
    return PageRequest(first_page_for_zero(int(page_num)), items, include_count=True), system_managed


def list_route(versions: tuple[str, ...], template: str, authenticator: Authenticator, db: Database) -> FastRoute:
    """The fast list of the route whose template (``path_format``) is ``template``, serving ``versions``."""

    async def handle(scope: Scope, receive: Receive, send: Send, match: re.Match[str]) -> bool:
        org_id = match.group(1)
        fmt = current_format()
        query = page_query(scope.get("query_string", b""))
        if query is None or fmt.bad_parameter is not None or not is_object_id(org_id):
            return False
        try:
            version = resolve_version(header(scope, b"accept"), versions)
        except InvalidVersionDate:
            return False
        limited = await authenticator.admit_cached(scope, LIST_ORG_REQUIREMENT, org_id, template, {"orgId": org_id})
        if limited is None:
            return False
        page, include_system_managed = query
        listed = await page_in_org(db.read_rows, org_id, page, include_system_managed)
        if listed.org_id is None:
            return False
        fmt.version = version
        response = ok(listed_page(Request(scope), page, listed))
        # Where the route adds them (atlas_sa.kit.routing): after the response's own headers.
        response.raw_headers.extend(limited)
        await response(scope, receive, send)
        return True

    return FastRoute("GET", ORG_ACCOUNTS_PATH, handle, template)
