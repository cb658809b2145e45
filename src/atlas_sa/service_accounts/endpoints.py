"""HTTP endpoints for service accounts: ``/orgs/{orgId}/serviceAccounts…`` and ``/groups/{groupId}/serviceAccounts…``
(resource version 2024-08-05). Handlers are named after the spec's operation ids.

``{clientId}`` uses a converter that excludes ``:`` so that ``…/{clientId}:invite`` is only ever the invite route:
``GET …/x:invite`` is then a 405 for that path rather than a lookup of the account ``x:invite``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from atlas_sa.audit.dependencies import Recorder
from atlas_sa.identity.caller import Caller
from atlas_sa.kit.pages import paginated, paging
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.kit.rendering import created, json_text, no_content, ok
from atlas_sa.kit.routing import atlas_router, request_session
from atlas_sa.kit.state import app_state
from atlas_sa.orgs.repository import OrgRepository
from atlas_sa.orgs.service import OrgService
from atlas_sa.projects.repository import ProjectRepository
from atlas_sa.projects.service import ProjectService
from atlas_sa.service_accounts.fastpath import remember
from atlas_sa.service_accounts.rendering import (
    account_changes,
    group_account_schema,
    issued_secret_schema,
    new_account,
    org_account_schema,
)
from atlas_sa.service_accounts.repository import ListedPage, ServiceAccountRepository
from atlas_sa.service_accounts.schemas import (
    GroupServiceAccount,
    GroupServiceAccountRequest,
    GroupServiceAccountRoleAssignment,
    GroupServiceAccountUpdateRequest,
    OrgServiceAccount,
    OrgServiceAccountRequest,
    OrgServiceAccountUpdateRequest,
    PaginatedGroupServiceAccounts,
    PaginatedOrgServiceAccounts,
    PaginatedServiceAccountGroup,
    ServiceAccountGroup,
    ServiceAccountSecret,
    ServiceAccountSecretRequest,
)
from atlas_sa.service_accounts.service import ServiceAccountService

SA_VERSION = "2024-08-05"


class ClientIdConvertor(Convertor[str]):
    """A path segment without ``:``, which separates a custom method (``:invite``) from the resource."""

    regex = "[^/:]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("client_id", ClientIdConvertor())

router = atlas_router(SA_VERSION, prefix="/api/atlas/v2", tags=["Service Accounts"])

ORG_ACCOUNTS = "/orgs/{orgId}/serviceAccounts"
ORG_ACCOUNT = ORG_ACCOUNTS + "/{clientId:client_id}"
GROUP_ACCOUNTS = "/groups/{groupId}/serviceAccounts"
GROUP_ACCOUNT = GROUP_ACCOUNTS + "/{clientId:client_id}"


async def service_account_service(
    request: Request, session: Annotated[AsyncSession, Depends(request_session)], events: Recorder
) -> ServiceAccountService:
    state = app_state(request)
    orgs = OrgService(OrgRepository(session), state.clock, events)
    projects = ProjectService(ProjectRepository(session), orgs, state.clock, events)
    return ServiceAccountService(ServiceAccountRepository(session), orgs, projects, state.clock, state.keys, events)


Accounts = Annotated[ServiceAccountService, Depends(service_account_service)]
Paging = Annotated[PageRequest, Depends(paging)]
IncludeSystemManaged = Annotated[
    bool,
    Query(
        alias="includeSystemManaged",
        description="Whether system-managed Service Accounts (such as MCP integrations) are included.",
    ),
]


# --- rendering -------------------------------------------------------------------------------------------------


def listed_page(request: Request, page: PageRequest, listed: ListedPage) -> dict[str, Any]:
    """A list page's body (organization or project): its results are the statement's JSON text, which writes each
    account as :func:`~atlas_sa.service_accounts.rendering.org_account_schema` and ``group_account_schema`` render
    one (the repository's ``_listing``), spliced in unparsed."""
    return paginated(request, page, json_text(listed.results), listed.total)


# --- organization service accounts -----------------------------------------------------------------------------


@router.get(ORG_ACCOUNTS, operation_id="listOrgServiceAccounts", response_model=PaginatedOrgServiceAccounts)
async def list_org_service_accounts(
    request: Request,
    caller: Caller,
    accounts: Accounts,
    page: Paging,
    orgId: str,  # noqa: N803
    include_system_managed: IncludeSystemManaged = False,
) -> Response:
    listed = await accounts.list_for_org(caller, orgId, page, include_system_managed=include_system_managed)
    return ok(listed_page(request, page, listed))


@router.post(ORG_ACCOUNTS, operation_id="createOrgServiceAccount", status_code=201, response_model=OrgServiceAccount)
async def create_org_service_account(
    caller: Caller,
    accounts: Accounts,
    body: OrgServiceAccountRequest,
    orgId: str,  # noqa: N803
) -> Response:
    return created(org_account_schema(await accounts.create_for_org(caller, orgId, new_account(body))))


@router.get(ORG_ACCOUNT, operation_id="getOrgServiceAccount", response_model=OrgServiceAccount)
async def get_org_service_account(
    request: Request,
    caller: Caller,
    accounts: Accounts,
    orgId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    view = await accounts.get_for_org(caller, orgId, clientId)
    # Kept for the read fast path (atlas_sa.service_accounts.fastpath), which replays it to authorized callers.
    return remember(request, view.account.id, view.account.org_id, ok(org_account_schema(view)))


@router.patch(ORG_ACCOUNT, operation_id="updateOrgServiceAccount", response_model=OrgServiceAccount)
async def update_org_service_account(
    caller: Caller,
    accounts: Accounts,
    body: OrgServiceAccountUpdateRequest,
    orgId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    return ok(org_account_schema(await accounts.update_for_org(caller, orgId, clientId, account_changes(body))))


@router.delete(ORG_ACCOUNT, operation_id="deleteOrgServiceAccount", status_code=204)
async def delete_org_service_account(
    caller: Caller,
    accounts: Accounts,
    orgId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    await accounts.delete_for_org(caller, orgId, clientId)
    return no_content()


@router.get(
    ORG_ACCOUNT + "/groups", operation_id="getServiceAccountGroups", response_model=PaginatedServiceAccountGroup
)
async def get_service_account_groups(
    request: Request,
    caller: Caller,
    accounts: Accounts,
    page: Paging,
    orgId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    rows, total = await accounts.project_assignments(caller, orgId, clientId, page)
    results = [
        ServiceAccountGroup.model_validate({"groupId": row.project_id, "roles": list(row.roles)}) for row in rows
    ]
    return ok(paginated(request, page, results, total))


@router.post(
    ORG_ACCOUNT + "/secrets", operation_id="createOrgSecret", status_code=201, response_model=ServiceAccountSecret
)
async def create_org_secret(
    caller: Caller,
    accounts: Accounts,
    body: ServiceAccountSecretRequest,
    orgId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    issued = await accounts.create_secret_for_org(caller, orgId, clientId, body.secret_expires_after_hours)
    return created(issued_secret_schema(issued))


@router.delete(ORG_ACCOUNT + "/secrets/{secretId}", operation_id="deleteOrgSecret", status_code=204)
async def delete_org_secret(
    caller: Caller,
    accounts: Accounts,
    orgId: str,  # noqa: N803
    clientId: str,  # noqa: N803
    secretId: str,  # noqa: N803
) -> Response:
    await accounts.delete_secret_for_org(caller, orgId, clientId, secretId)
    return no_content()


# --- project service accounts ----------------------------------------------------------------------------------


@router.get(GROUP_ACCOUNTS, operation_id="listGroupServiceAccounts", response_model=PaginatedGroupServiceAccounts)
async def list_group_service_accounts(
    request: Request,
    caller: Caller,
    accounts: Accounts,
    page: Paging,
    groupId: str,  # noqa: N803
    include_system_managed: IncludeSystemManaged = False,
) -> Response:
    listed = await accounts.list_for_project(caller, groupId, page, include_system_managed=include_system_managed)
    return ok(listed_page(request, page, listed))


@router.post(
    GROUP_ACCOUNTS, operation_id="createGroupServiceAccount", status_code=201, response_model=GroupServiceAccount
)
async def create_group_service_account(
    caller: Caller,
    accounts: Accounts,
    body: GroupServiceAccountRequest,
    groupId: str,  # noqa: N803
) -> Response:
    return created(group_account_schema(await accounts.create_for_project(caller, groupId, new_account(body))))


@router.get(GROUP_ACCOUNT, operation_id="getGroupServiceAccount", response_model=GroupServiceAccount)
async def get_group_service_account(
    caller: Caller,
    accounts: Accounts,
    groupId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    return ok(group_account_schema(await accounts.get_for_project(caller, groupId, clientId)))


@router.patch(GROUP_ACCOUNT, operation_id="updateGroupServiceAccount", response_model=GroupServiceAccount)
async def update_group_service_account(
    caller: Caller,
    accounts: Accounts,
    body: GroupServiceAccountUpdateRequest,
    groupId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    return ok(group_account_schema(await accounts.update_for_project(caller, groupId, clientId, account_changes(body))))


@router.delete(GROUP_ACCOUNT, operation_id="deleteGroupServiceAccount", status_code=204)
async def delete_group_service_account(
    caller: Caller,
    accounts: Accounts,
    groupId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    await accounts.delete_for_project(caller, groupId, clientId)
    return no_content()


@router.post(GROUP_ACCOUNT + ":invite", operation_id="inviteGroupServiceAccount", response_model=GroupServiceAccount)
async def invite_group_service_account(
    caller: Caller,
    accounts: Accounts,
    body: GroupServiceAccountRoleAssignment,
    groupId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    # Atlas answers the invite with 200, not 201.
    return ok(group_account_schema(await accounts.invite(caller, groupId, clientId, body.roles)))


@router.post(
    GROUP_ACCOUNT + "/secrets", operation_id="createGroupSecret", status_code=201, response_model=ServiceAccountSecret
)
async def create_group_secret(
    caller: Caller,
    accounts: Accounts,
    body: ServiceAccountSecretRequest,
    groupId: str,  # noqa: N803
    clientId: str,  # noqa: N803
) -> Response:
    issued = await accounts.create_secret_for_project(caller, groupId, clientId, body.secret_expires_after_hours)
    return created(issued_secret_schema(issued))


@router.delete(GROUP_ACCOUNT + "/secrets/{secretId}", operation_id="deleteGroupSecret", status_code=204)
async def delete_group_secret(
    caller: Caller,
    accounts: Accounts,
    groupId: str,  # noqa: N803
    clientId: str,  # noqa: N803
    secretId: str,  # noqa: N803
) -> Response:
    await accounts.delete_secret_for_project(caller, groupId, clientId, secretId)
    return no_content()
