"""``atlas-sa events list``: listOrgEvents, or listGroupEvents with ``--project``, with the API's filters.

Unlike the other lists, this one prints one page (``--limit``, ``--page``): an organization's trail grows without
bound, and the API pages it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from atlas_sa.cli.common import ConfigOption, DatabaseUrlOption
from atlas_sa.cli.operate.shared import JsonOption, Operation, Output, emit, operate, table, timestamp
from atlas_sa.errors import GroupNotFound
from atlas_sa.events.repository import EventRepository
from atlas_sa.events.schemas import group_event, org_event, parse_instant
from atlas_sa.events.service import EventQuery, EventService
from atlas_sa.identity.principal import SYSTEM
from atlas_sa.kit.pagination import DEFAULT_ITEMS_PER_PAGE, MAX_ITEMS_PER_PAGE, PageRequest
from atlas_sa.models import Event

app = typer.Typer(help="The audit trail (Atlas events).", no_args_is_help=True)
TypesOption = Annotated[
    list[str] | None,
    typer.Option("--event-type", help="Only events of this type (repeat for several; the API's eventType)."),
]
# What an event is about, in the order the table names it (the ``raw`` fields each kind of event records).
_TARGET_FIELDS = ("clientId", "secretId", "cidrBlock", "publicKey", "gn", "orgName")


@app.command("list")
def list_events(
    org_id: Annotated[str | None, typer.Option("--org", help="The organization's events (listOrgEvents).")] = None,
    group_id: Annotated[
        str | None, typer.Option("--project", help="Only this project's events (listGroupEvents).")
    ] = None,
    event_types: TypesOption = None,
    excluded: Annotated[
        list[str] | None,
        typer.Option("--excluded-event-type", help="Leave out this type (repeatable; with --project, as the API)."),
    ] = None,
    min_date: Annotated[
        str | None, typer.Option("--min-date", help="ISO 8601: only events created at or after it (UTC unless given).")
    ] = None,
    max_date: Annotated[
        str | None, typer.Option("--max-date", help="ISO 8601: only events created at or before it.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_ITEMS_PER_PAGE, help="Events per page (the API's itemsPerPage).")
    ] = DEFAULT_ITEMS_PER_PAGE,
    page_num: Annotated[int, typer.Option("--page", min=1, help="Which page, newest events first.")] = 1,
    include_raw: Annotated[bool, typer.Option("--include-raw", help="With --json: each event's raw document.")] = False,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """One page of an organization's or a project's events, newest first (listOrgEvents, listGroupEvents)."""
    if org_id is None and group_id is None:
        raise typer.BadParameter("give --org ORG_ID (and --project GROUP_ID for a project's)", param_hint="--org")
    if excluded and group_id is None:
        # listOrgEvents has no such filter.
        raise typer.BadParameter("--excluded-event-type needs --project", param_hint="--excluded-event-type")
    page = PageRequest(page_num, limit, include_count=True)

    async def work(op: Operation) -> Output:
        # Parsed in the unit of work: a bad date is the API's 400, as a bad type is.
        query = EventQuery(
            event_types=event_types or (),
            excluded_event_types=excluded or (),
            min_date=parse_instant("minDate", min_date),
            max_date=parse_instant("maxDate", max_date),
        )
        events = EventService(EventRepository(op.session), op.orgs, op.projects)
        if group_id is None:
            assert org_id is not None
            rows, total = await events.list_for_org(SYSTEM, org_id, query, page)
            results = [org_event(op.base, event, include_raw) for event in rows]
        else:
            if org_id is not None:
                org = await op.orgs.require(org_id)
                if (await op.projects.require(group_id)).org_id != org.id:
                    raise GroupNotFound(group_id)  # not this organization's: absent from it, as on the API's paths
            rows, total = await events.list_for_project(SYSTEM, group_id, query, page)
            results = [group_event(op.base, event, group_id, include_raw) for event in rows]
        return Output({"results": results, "totalCount": total}, _human(rows, total, page))

    emit(operate(database_url, config_file, work), as_json)


def _human(rows: Sequence[Event], total: int, page: PageRequest) -> str:
    listed = table(
        ["CREATED", "EVENT TYPE", "PROJECT", "BY", "ABOUT", "ID"],
        [
            [
                timestamp(event.created_at),
                event.event_type,
                event.group_id,
                event.username or event.public_key,
                " ".join(str(event.details[k]) for k in _TARGET_FIELDS if event.details.get(k) is not None) or None,
                event.id,
            ]
            for event in rows
        ],
        empty="no events",
    )
    shown_to = page.offset + len(rows)
    if total > shown_to:
        return f"{listed}\n(events {page.offset + 1}-{shown_to} of {total}; --page {page.page_num + 1} for more)"
    return listed
