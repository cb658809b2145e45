"""``atlas-sa orgs list | create | show``: listOrganizations, createOrganization, getOrganization."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_sa.cli.common import ConfigOption, DatabaseUrlOption
from atlas_sa.cli.operate.shared import (
    JsonOption,
    Operation,
    Output,
    emit,
    every_page,
    fields,
    operate,
    request_body,
    table,
)
from atlas_sa.identity.principal import SYSTEM
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.kit.rendering import to_jsonable
from atlas_sa.onboarding.schemas import CreateOrganizationRequest, CreateOrganizationResponse
from atlas_sa.onboarding.service import OnboardingService
from atlas_sa.orgs.schemas import org_document

app = typer.Typer(help="Organizations.", no_args_is_help=True)
# A count needs no rows.
_ONE = PageRequest(1, 1, include_count=True)


@app.command("list")
def list_orgs(
    name: Annotated[str | None, typer.Option("--name", help="Only the organization of this name.")] = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Every organization (listOrganizations, as the local system sees them: all)."""

    async def work(op: Operation) -> Output:
        rows, total = await every_page(lambda page: op.orgs.list(SYSTEM, page, name))
        results = [to_jsonable(org_document(op.base, org)) for org in rows]
        return Output(
            {"results": results, "totalCount": total},
            table(["ID", "NAME"], [[org.id, org.name] for org in rows], empty="no organizations"),
        )

    emit(operate(database_url, config_file, work), as_json)


@app.command("create")
def create_org(
    name: Annotated[str, typer.Argument(help="The organization's name (1 to 64 characters, as the API allows).")],
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Create an organization (createOrganization, without a first service account: add one with
    `atlas-sa accounts create --org`)."""

    async def work(op: Operation) -> Output:
        body = request_body(CreateOrganizationRequest, {"name": name})
        org, _account = await OnboardingService(op.orgs, op.accounts).create_organization(SYSTEM, body.name, None)
        document = CreateOrganizationResponse(organization=org_document(op.base, org))
        return Output(to_jsonable(document), f'Created organization "{org.name}" (orgId {org.id}).')

    emit(operate(database_url, config_file, work), as_json)


@app.command("show")
def show_org(
    org_id: Annotated[str, typer.Argument(help="The organization's id (24 hexadecimal digits).")],
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """One organization (getOrganization)."""

    async def work(op: Operation) -> Output:
        org = await op.orgs.get(SYSTEM, org_id)
        _rows, projects = await op.projects.list_for_org(SYSTEM, org.id, _ONE, None)
        settings = [
            ("apiAccessListRequired", org.api_access_list_required),
            ("maxServiceAccountSecretValidityInHours", org.max_secret_validity_hours),
        ]
        return Output(
            to_jsonable(org_document(op.base, org)),
            fields([("id", org.id), ("name", org.name), ("projects", projects), *settings]),
        )

    emit(operate(database_url, config_file, work), as_json)
