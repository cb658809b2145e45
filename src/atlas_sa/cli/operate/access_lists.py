"""``atlas-sa access-lists list | add | delete``: a service account's IP access list through the organization path
(listOrgAccessList, createOrgAccessList, deleteOrgAccessEntry). The list is the account's, whichever path edits it.
An account named by its client id alone is taken through its own organization's path.

``add`` takes addresses and CIDR blocks as the API's body does, several at once (one ``ipAddress`` or ``cidrBlock``
entry each: a value with a slash is a block), all added or none, one event each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from atlas_sa.access_lists.repository import AccessListRepository
from atlas_sa.access_lists.schemas import entry_schema
from atlas_sa.access_lists.service import AccessListService, EntryInput, network_text, parse_path_value
from atlas_sa.cli.common import ConfigOption, DatabaseUrlOption
from atlas_sa.cli.operate.shared import JsonOption, Operation, Output, emit, every_page, operate, org_of, table
from atlas_sa.identity.principal import SYSTEM
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.kit.rendering import to_jsonable
from atlas_sa.models import AccessListEntry

app = typer.Typer(help="Service accounts' IP access lists.", no_args_is_help=True)
ClientIdArgument = Annotated[str, typer.Argument(help="The service account's client id (mdb_sa_id_…).")]
OrgOption = Annotated[
    str | None, typer.Option("--org", help="The organization's path (its id); default: the account's own.")
]


def _service(op: Operation) -> AccessListService:
    return AccessListService(AccessListRepository(op.session), op.accounts, op.clock, op.events)


def _listing(rows: Sequence[AccessListEntry], total: int) -> Output:
    return Output(
        {"results": [to_jsonable(entry_schema(row)) for row in rows], "totalCount": total},
        table(
            ["CIDR BLOCK", "IP ADDRESS", "CREATED", "REQUESTS", "LAST USED", "LAST USED FROM"],
            [
                [
                    row.cidr_block,
                    row.ip_address,
                    row.created_at,
                    row.request_count,
                    row.last_used_at,
                    row.last_used_address,
                ]
                for row in rows
            ],
            empty="no entries",
        ),
    )


@app.command("list")
def list_entries(
    client_id: ClientIdArgument,
    org_id: OrgOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """The account's entries (listOrgAccessList)."""

    async def work(op: Operation) -> Output:
        lists, org = _service(op), await org_of(op, client_id, org_id)
        return _listing(*await every_page(lambda page: lists.list_for_org(SYSTEM, org, client_id, page)))

    emit(operate(database_url, config_file, work), as_json)


@app.command("add")
def add_entries(
    client_id: ClientIdArgument,
    addresses: Annotated[
        list[str], typer.Argument(help="IP addresses (203.0.113.10, 2001:db8::1) or CIDR blocks (10.0.0.0/8).")
    ],
    org_id: OrgOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Add entries to the account's list (createOrgAccessList); then the account's tokens work only from them."""
    entries = [EntryInput(cidr_block=text) if "/" in text else EntryInput(ip_address=text) for text in addresses]

    async def work(op: Operation) -> Output:
        lists, org = _service(op), await org_of(op, client_id, org_id)
        # The API answers the add with the list's first page; the command prints all of it.
        await lists.add_for_org(SYSTEM, org, client_id, entries, PageRequest(1, 1))
        listed = _listing(*await every_page(lambda page: lists.list_for_org(SYSTEM, org, client_id, page)))
        added = f"Added {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} to the access list of {client_id}."
        return Output(listed.document, f"{added}\n{listed.human}")

    emit(operate(database_url, config_file, work), as_json)


@app.command("delete")
def delete_entry(
    client_id: ClientIdArgument,
    entry: Annotated[str, typer.Argument(help="The entry: its IP address or CIDR block, as listed.")],
    org_id: OrgOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Delete one entry (deleteOrgAccessEntry). With the last one gone, the account's tokens work from any address
    again, unless its organization requires an access list (apiAccessListRequired)."""

    async def work(op: Operation) -> Output:
        await _service(op).delete_for_org(SYSTEM, await org_of(op, client_id, org_id), client_id, entry)
        # The service has parsed ``entry``: it is an address or a block.
        block = network_text(parse_path_value(entry))
        return Output(
            {"clientId": client_id, "cidrBlock": block, "deleted": True},
            f"Deleted {block} from the access list of {client_id}.",
        )

    emit(operate(database_url, config_file, work), as_json)
