"""``atlas-sa accounts list | show | create | update | delete | assign``: the service-account operations of both
paths. ``--org ORG_ID`` is the organization path (listOrgServiceAccounts, …, deleteOrgServiceAccount), ``--project
GROUP_ID`` the project path (listGroupServiceAccounts, …, deleteGroupServiceAccount, inviteGroupServiceAccount).
An account named by its client id alone is taken through its own organization's path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

import typer

from atlas_sa.cli.common import ConfigOption, DatabaseUrlOption
from atlas_sa.cli.operate.shared import (
    JsonOption,
    Operation,
    Output,
    duration,
    emit,
    every_page,
    fields,
    operate,
    org_of,
    request_body,
    table,
    whole_hours,
)
from atlas_sa.identity.principal import SYSTEM
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.service_accounts.rendering import (
    account_changes,
    group_account_schema,
    listed_accounts,
    new_account,
    org_account_schema,
)
from atlas_sa.service_accounts.schemas import (
    GroupServiceAccountRequest,
    GroupServiceAccountRoleAssignment,
    GroupServiceAccountUpdateRequest,
    OrgServiceAccountRequest,
    OrgServiceAccountUpdateRequest,
)
from atlas_sa.service_accounts.service import AccountView, masked

app = typer.Typer(help="Service accounts, in an organization or a project.", no_args_is_help=True)

OrgOption = Annotated[str | None, typer.Option("--org", help="The organization's path (its id).")]
ProjectOption = Annotated[str | None, typer.Option("--project", help="The project's path (its id).")]
RolesOption = Annotated[
    list[str] | None,
    typer.Option("--role", help="A role (repeat for several): ORG_… with --org, GROUP_… with --project."),
]


def one_scope(org_id: str | None, group_id: str | None, *, required: bool) -> None:
    if org_id is not None and group_id is not None:
        raise typer.BadParameter("give --org or --project, not both", param_hint="--org / --project")
    if required and org_id is None and group_id is None:
        raise typer.BadParameter("give --org ORG_ID or --project GROUP_ID", param_hint="--org / --project")


def view_output(
    view: AccountView, headline: str | None = None, *, projects: str | None = None, in_project: bool = False
) -> Output:
    """An account as the API shows it on its path (``--json``: ``OrgServiceAccount``, or ``GroupServiceAccount``
    with the roles in the project), or its fields and a table of its secrets; a new secret is printed, once."""
    account = view.account
    lines = [
        ("clientId", account.client_id),
        ("name", account.name),
        ("description", account.description),
        ("roles", view.roles),
        ("createdAt", account.created_at),
        ("systemManaged", account.system_managed),
    ]
    if projects is not None:
        lines.append(("projects", projects))
    secrets = table(
        ["SECRET ID", "SECRET", "CREATED", "EXPIRES", "LAST USED"],
        [[s.id, masked(s), s.created_at, s.expires_at, s.last_used_at] for s in view.secrets],
        empty="no secrets",
    )
    parts = [headline] if headline else []
    parts += [fields(lines), "", secrets]
    if view.issued is not None:
        parts += ["", "The new secret, shown once (only its hash is kept): store it now.", f"  {view.issued.value}"]
    return Output((group_account_schema if in_project else org_account_schema)(view), "\n".join(parts))


@app.command("list")
def list_accounts(
    org_id: OrgOption = None,
    group_id: ProjectOption = None,
    include_system_managed: Annotated[
        bool, typer.Option("--include-system-managed", help="Also the system-managed accounts.")
    ] = False,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """An organization's accounts, or those with roles in a project (with their roles there)."""
    one_scope(org_id, group_id, required=True)

    async def page_of(op: Operation, page: PageRequest) -> tuple[list[dict[str, Any]], int]:
        if org_id is not None:
            listed = await op.accounts.list_for_org(SYSTEM, org_id, page, include_system_managed=include_system_managed)
        else:
            assert group_id is not None
            listed = await op.accounts.list_for_project(
                SYSTEM, group_id, page, include_system_managed=include_system_managed
            )
        return listed_accounts(listed), listed.total

    async def work(op: Operation) -> Output:
        accounts, total = await every_page(lambda page: page_of(op, page))
        return Output(
            {"results": accounts, "totalCount": total},
            table(
                ["CLIENT ID", "NAME", "ROLES", "SECRETS", "CREATED"],
                # Times to the second, as every table shows them (the API's text keeps any microseconds).
                [
                    [a["clientId"], a["name"], a["roles"], len(a["secrets"]), a["createdAt"][:19] + "Z"]
                    for a in accounts
                ],
                empty="no service accounts",
            ),
        )

    emit(operate(database_url, config_file, work), as_json)


@app.command("show")
def show_account(
    client_id: Annotated[str, typer.Argument(help="The account's client id (mdb_sa_id_…).")],
    org_id: OrgOption = None,
    group_id: ProjectOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """One account: its fields, its roles (in the organization, or in the project with --project), its secrets
    (masked) and the projects it is in."""
    one_scope(org_id, group_id, required=False)

    async def work(op: Operation) -> Output:
        if group_id is not None:
            return view_output(await op.accounts.get_for_project(SYSTEM, group_id, client_id), in_project=True)
        org = await org_of(op, client_id, org_id)
        view = await op.accounts.get_for_org(SYSTEM, org, client_id)
        assignments, _total = await every_page(
            lambda page: op.accounts.project_assignments(SYSTEM, org, client_id, page)
        )
        projects = "; ".join(f"{a.project_id} ({','.join(a.roles)})" for a in assignments) or "-"
        return view_output(view, projects=projects)

    emit(operate(database_url, config_file, work), as_json)


@app.command("create")
def create_account(
    name: Annotated[str, typer.Option("--name", help="The account's name.")],
    description: Annotated[str, typer.Option("--description", help="What the account is for.")],
    roles: RolesOption = None,
    org_id: OrgOption = None,
    group_id: ProjectOption = None,
    expires_after: Annotated[
        timedelta | None,
        typer.Option(
            "--expires-after",
            parser=duration,
            metavar="DURATION",
            help="The first secret's validity, in whole hours or days (8h to the organization's maximum): 90d.",
        ),
    ] = None,
    without_secret: Annotated[
        bool, typer.Option("--without-secret", help="Make the account without a secret.")
    ] = False,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Create an account in an organization (with --org roles), or in a project (with --project roles: it joins the
    organization as ORG_MEMBER). Its first secret is printed once."""
    one_scope(org_id, group_id, required=True)
    body: dict[str, Any] = {"name": name, "description": description, "roles": roles or []}
    if expires_after is not None:
        body["secretExpiresAfterHours"] = whole_hours(expires_after, "--expires-after")
    if without_secret:
        body["withoutInitialSecret"] = True

    async def work(op: Operation) -> Output:
        if org_id is not None:
            request = new_account(request_body(OrgServiceAccountRequest, body))
            view = await op.accounts.create_for_org(SYSTEM, org_id, request)
        else:
            assert group_id is not None
            request = new_account(request_body(GroupServiceAccountRequest, body))
            view = await op.accounts.create_for_project(SYSTEM, group_id, request)
        return view_output(view, f'Created service account "{view.account.name}".', in_project=group_id is not None)

    emit(operate(database_url, config_file, work), as_json)


@app.command("update")
def update_account(
    client_id: Annotated[str, typer.Argument(help="The account's client id.")],
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="A new description.")] = None,
    roles: RolesOption = None,
    org_id: OrgOption = None,
    group_id: ProjectOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Change an account's name or description, or replace its roles (in the organization, or in the project with
    --project); what is not given stays as it is."""
    one_scope(org_id, group_id, required=False)
    body = _given(name=name, description=description, roles=roles)

    async def work(op: Operation) -> Output:
        if group_id is not None:
            sent = request_body(GroupServiceAccountUpdateRequest, body)
            view = await op.accounts.update_for_project(SYSTEM, group_id, client_id, account_changes(sent))
        else:
            org = await org_of(op, client_id, org_id)
            changes = request_body(OrgServiceAccountUpdateRequest, body)
            view = await op.accounts.update_for_org(SYSTEM, org, client_id, account_changes(changes))
        return view_output(view, f"Updated service account {client_id}.", in_project=group_id is not None)

    emit(operate(database_url, config_file, work), as_json)


@app.command("delete")
def delete_account(
    client_id: Annotated[str, typer.Argument(help="The account's client id.")],
    org_id: OrgOption = None,
    group_id: ProjectOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Delete an account, its secrets, access list and tokens (deleteOrgServiceAccount); with --project, only
    remove it from that project (deleteGroupServiceAccount: it stays in the organization, its credentials valid)."""
    one_scope(org_id, group_id, required=False)

    async def work(op: Operation) -> Output:
        if group_id is not None:
            await op.accounts.delete_for_project(SYSTEM, group_id, client_id)
            return Output(
                {"clientId": client_id, "groupId": group_id, "deleted": True},
                f"Removed service account {client_id} from project {group_id}; it stays in its organization.",
            )
        await op.accounts.delete_for_org(SYSTEM, await org_of(op, client_id, org_id), client_id)
        return Output({"clientId": client_id, "deleted": True}, f"Deleted service account {client_id}.")

    emit(operate(database_url, config_file, work), as_json)


@app.command("assign")
def assign_account(
    client_id: Annotated[str, typer.Argument(help="The account's client id.")],
    group_id: Annotated[str, typer.Option("--project", help="The project's id.")],
    roles: RolesOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Assign an account of the project's organization to the project with these roles (inviteGroupServiceAccount);
    an account already there has its roles there replaced."""

    async def work(op: Operation) -> Output:
        body = request_body(GroupServiceAccountRoleAssignment, {"roles": roles or []})
        view = await op.accounts.invite(SYSTEM, group_id, client_id, body.roles)
        return view_output(view, f"Assigned service account {client_id} to project {group_id}.", in_project=True)

    emit(operate(database_url, config_file, work), as_json)


def _given(**values: str | Sequence[str] | None) -> dict[str, Any]:
    return {
        name: list(value) if isinstance(value, list) else value for name, value in values.items() if value is not None
    }
