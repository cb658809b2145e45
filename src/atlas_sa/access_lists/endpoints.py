"""HTTP endpoints for service-account access lists (resource version 2024-08-05), on both paths.

The DELETE's ``{ipAddress}`` carries a CIDR block's slash as ``%2F``; Starlette decodes the path before routing, so
the parameter uses the ``path`` converter (it may then contain ``/``) and the service parses what arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Body, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from atlas_sa.access_lists.repository import AccessListRepository
from atlas_sa.access_lists.schemas import (
    MAX_ENTRIES_PER_REQUEST,
    PaginatedServiceAccountIPAccessEntry,
    ServiceAccountIPAccessListEntryRequest,
    entry_schema,
)
from atlas_sa.access_lists.service import AccessListService, EntryInput
from atlas_sa.audit.dependencies import Recorder
from atlas_sa.identity.caller import Caller
from atlas_sa.kit.pages import paginated, paging_with_count
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.kit.rendering import no_content, ok
from atlas_sa.kit.routing import atlas_router, request_session
from atlas_sa.kit.state import app_state
from atlas_sa.models import AccessListEntry
from atlas_sa.service_accounts.endpoints import (
    GROUP_ACCOUNT,
    ORG_ACCOUNT,
    SA_VERSION,
    service_account_service,
)
from atlas_sa.service_accounts.service import ServiceAccountService

router = atlas_router(SA_VERSION, prefix="/api/atlas/v2", tags=["Service Accounts"])

ORG_LIST = ORG_ACCOUNT + "/accessList"
GROUP_LIST = GROUP_ACCOUNT + "/accessList"


async def access_list_service(
    request: Request,
    session: Annotated[AsyncSession, Depends(request_session)],
    accounts: Annotated[ServiceAccountService, Depends(service_account_service)],
    events: Recorder,
) -> AccessListService:
    return AccessListService(AccessListRepository(session), accounts, app_state(request).clock, events)


AccessLists = Annotated[AccessListService, Depends(access_list_service)]
Paging = Annotated[PageRequest, Depends(paging_with_count)]
# ``maxItems`` is documented, not validated here: a longer array can never fit the account's 200 entries, and the
# service answers it with the limit's own error (400 MAX_ACCESS_LIST_ENTRIES_EXCEEDED) rather than a bare
# INVALID_JSON for the whole body.
Entries = Annotated[
    list[ServiceAccountIPAccessListEntryRequest],
    Body(description="Access list entries to add.", json_schema_extra={"maxItems": MAX_ENTRIES_PER_REQUEST}),
]


def _inputs(body: Sequence[ServiceAccountIPAccessListEntryRequest]) -> list[EntryInput]:
    return [
        EntryInput(
            ip_address=item.ip_address if "ip_address" in item.model_fields_set else None,
            cidr_block=item.cidr_block if "cidr_block" in item.model_fields_set else None,
        )
        for item in body
    ]


def _page(request: Request, page: PageRequest, rows: Sequence[AccessListEntry], total: int) -> Response:
    return ok(paginated(request, page, [entry_schema(row) for row in rows], total))


# --- organization path -----------------------------------------------------------------------------------------


@router.get(ORG_LIST, operation_id="listOrgAccessList", response_model=PaginatedServiceAccountIPAccessEntry)
async def list_org_access_list(
    request: Request,
    caller: Caller,
    lists: AccessLists,
    page: Paging,
    orgId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    rows, total = await lists.list_for_org(caller, orgId, clientId, page)
    return _page(request, page, rows, total)


@router.post(ORG_LIST, operation_id="createOrgAccessList", response_model=PaginatedServiceAccountIPAccessEntry)
async def create_org_access_list(
    request: Request,
    caller: Caller,
    lists: AccessLists,
    page: Paging,
    body: Entries,
    orgId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    # Atlas answers with 200 and the list's first page, not 201.
    rows, total = await lists.add_for_org(caller, orgId, clientId, _inputs(body), page)
    return _page(request, page, rows, total)


@router.delete(ORG_LIST + "/{ipAddress:path}", operation_id="deleteOrgAccessEntry", status_code=204)
async def delete_org_access_entry(
    caller: Caller,
    lists: AccessLists,
    orgId: str,  # noqa: N803
    clientId: str,  # noqa: N803
    ipAddress: str,  # noqa: N803
) -> Response:
    await lists.delete_for_org(caller, orgId, clientId, ipAddress)
    return no_content()


# --- project path ----------------------------------------------------------------------------------------------


@router.get(GROUP_LIST, operation_id="listAccessList", response_model=PaginatedServiceAccountIPAccessEntry)
async def list_access_list(
    request: Request,
    caller: Caller,
    lists: AccessLists,
    page: Paging,
    groupId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    rows, total = await lists.list_for_project(caller, groupId, clientId, page)
    return _page(request, page, rows, total)


@router.post(GROUP_LIST, operation_id="createAccessList", response_model=PaginatedServiceAccountIPAccessEntry)
async def create_access_list(
    request: Request,
    caller: Caller,
    lists: AccessLists,
    page: Paging,
    body: Entries,
    groupId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    rows, total = await lists.add_for_project(caller, groupId, clientId, _inputs(body), page)
    return _page(request, page, rows, total)


@router.delete(GROUP_LIST + "/{ipAddress:path}", operation_id="deleteGroupAccessEntry", status_code=204)
async def delete_group_access_entry(
    caller: Caller,
    lists: AccessLists,
    groupId: str,  # noqa: N803
    clientId: str,  # noqa: N803
    ipAddress: str,  # noqa: N803
) -> Response:
    await lists.delete_for_project(caller, groupId, clientId, ipAddress)
    return no_content()
