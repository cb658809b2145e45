"""``atlas-sa projects list | create | delete``: listProjects / getOrganizationProjects, createProject,
deleteProject."""

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
    operate,
    request_body,
    table,
    timestamp,
)
from atlas_sa.identity.principal import SYSTEM
from atlas_sa.kit.rendering import to_jsonable
from atlas_sa.projects.schemas import GroupRequest, group_document

app = typer.Typer(help="Projects (the API's groups).", no_args_is_help=True)
OrgOption = Annotated[str, typer.Option("--org", help="The organization's id.")]


@app.command("list")
def list_projects(
    org_id: Annotated[str | None, typer.Option("--org", help="Only this organization's projects.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Only the project of this name (with --org).")] = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Every project, or one organization's (listProjects, getOrganizationProjects)."""
    if name is not None and org_id is None:
        raise typer.BadParameter("--name needs --org", param_hint="--name")

    async def work(op: Operation) -> Output:
        if org_id is None:
            rows, total = await every_page(lambda page: op.projects.list(SYSTEM, page))
        else:
            rows, total = await every_page(lambda page: op.projects.list_for_org(SYSTEM, org_id, page, name))
        return Output(
            {"results": [to_jsonable(group_document(op.base, p)) for p in rows], "totalCount": total},
            table(
                ["ID", "NAME", "ORG ID", "CREATED"],
                [[p.id, p.name, p.org_id, timestamp(p.created_at)] for p in rows],
                empty="no projects",
            ),
        )

    emit(operate(database_url, config_file, work), as_json)


@app.command("create")
def create_project(
    name: Annotated[str, typer.Argument(help="The project's name, unique in its organization.")],
    org_id: OrgOption,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Create a project in an organization (createProject)."""

    async def work(op: Operation) -> Output:
        body = request_body(GroupRequest, {"name": name, "orgId": org_id})
        project = await op.projects.create(SYSTEM, body.name, body.org_id)
        return Output(
            to_jsonable(group_document(op.base, project)),
            f'Created project "{project.name}" (groupId {project.id}) in organization {project.org_id}.',
        )

    emit(operate(database_url, config_file, work), as_json)


@app.command("delete")
def delete_project(
    group_id: Annotated[str, typer.Argument(help="The project's id.")],
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Delete a project (deleteProject). Its service accounts stay in the organization; they lose their roles in
    this project only."""

    async def work(op: Operation) -> Output:
        await op.projects.delete(SYSTEM, group_id)
        return Output({"groupId": group_id, "deleted": True}, f"Deleted project {group_id}.")

    emit(operate(database_url, config_file, work), as_json)
