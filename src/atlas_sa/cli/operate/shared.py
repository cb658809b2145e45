"""What every operator command shares: its database, its services, its output and its exit codes.

A command opens the database as ``bootstrap`` does (the same settings, the same master-key check and claim, pending
migrations applied: :mod:`atlas_sa.cli.main`), then does its work in **one** unit of work through the features'
services, as the command line: the system principal (no role is checked) and the actor ``atlas-sa-cli`` in every
event it records. Every other rule is the service's, so a command is refused exactly where the API would refuse the
same request, with the same Atlas error.

Output: a table (or a block of fields) for people on stdout, or with ``--json`` exactly one JSON document, the
API's own representation where the API has one. Errors: one line on stderr, ``atlas-sa: error: <detail>
(<errorCode>)`` for an Atlas error, and the exit code below (docs/operating.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

# Imported for its session hooks: every change a command makes to accounts, secrets or tokens is published to
# running servers on PostgreSQL (pg_notify in the same transaction), which drop what they cached of it.
import atlas_sa.auth.cache  # noqa: F401
from atlas_sa.audit.recording import CLI, EventRecorder
from atlas_sa.cli.common import fail, load_key_settings, migrate, run_with_keys, safe_url
from atlas_sa.cli.credentials import run_claimed
from atlas_sa.errors import AtlasError
from atlas_sa.identity.principal import SYSTEM
from atlas_sa.kit.clock import SystemClock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.db import parse_database_url, sqlite_file_missing
from atlas_sa.kit.pagination import MAX_ITEMS_PER_PAGE, PageRequest
from atlas_sa.kit.violations import validation_to_atlas
from atlas_sa.orgs.repository import OrgRepository
from atlas_sa.orgs.service import OrgService
from atlas_sa.projects.repository import ProjectRepository
from atlas_sa.projects.service import ProjectService
from atlas_sa.service_accounts.repository import ServiceAccountRepository
from atlas_sa.service_accounts.service import ServiceAccountService
from atlas_sa.settings import Settings

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# Exit codes (docs/operating.md). Usage errors are 2 as click reports its own.
EXIT_FAILURE = 1  # the database or the master key could not be used
EXIT_USAGE = 2  # a bad option or setting; an Atlas 400 (the request itself is wrong)
EXIT_NOT_FOUND = 3  # an Atlas 404: no such organization, project, account, secret
EXIT_REFUSED = 4  # an Atlas 409 or a limit reached; an operation refused to protect what it would break

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON document on stdout (the API's representation).")
]


class Refused(Exception):
    """The command will not do what it was asked, for a reason of its own (not the service's): exit code 4."""


def exit_code(error: AtlasError) -> int:
    if error.status == 404:
        return EXIT_NOT_FOUND
    if error.status == 409 or error.error_code.startswith("MAX_"):
        return EXIT_REFUSED
    if error.status == 400:
        return EXIT_USAGE
    return EXIT_FAILURE


class Operation:
    """One command's unit of work: its session, and the features' services acting as the command line."""

    def __init__(self, settings: Settings, session: AsyncSession, keys: ServerKeys) -> None:
        self.settings = settings
        self.session = session
        self.keys = keys
        self.clock = SystemClock()
        self.events = EventRecorder(session, self.clock, CLI)

    @property
    def base(self) -> str:
        """The start of the links in the API's representations: the server's public URL."""
        return self.settings.issuer_url.rstrip("/")

    @cached_property
    def orgs(self) -> OrgService:
        return OrgService(OrgRepository(self.session), self.clock, self.events)

    @cached_property
    def projects(self) -> ProjectService:
        return ProjectService(ProjectRepository(self.session), self.orgs, self.clock, self.events)

    @cached_property
    def accounts(self) -> ServiceAccountService:
        return ServiceAccountService(
            ServiceAccountRepository(self.session), self.orgs, self.projects, self.clock, self.keys, self.events
        )


def operate(database_url: str | None, config_file: Path | None, work: Callable[[Operation], Awaitable[T]]) -> T:
    """Run ``work`` in one unit of work on the command's database; an error ends the command with one line."""
    settings = load_key_settings(config_file, database_url=database_url)
    if sqlite_file_missing(parse_database_url(settings.database_url)):
        # A mistyped path would otherwise make, and then report on, a new empty database.
        fail(f"no database at {safe_url(settings.database_url)} (atlas-sa db upgrade makes one)", EXIT_FAILURE)
    migrate(settings)

    async def claimed(session: AsyncSession, keys: ServerKeys) -> T:
        return await work(Operation(settings, session, keys))

    try:
        return run_with_keys(settings, run_claimed(settings, claimed))
    except AtlasError as error:
        fail(f"{error.detail} ({error.error_code})", exit_code(error))
    except Refused as refused:
        fail(str(refused), EXIT_REFUSED)


async def org_of(op: Operation, client_id: str, org_id: str | None) -> str:
    """The organization whose path an account is addressed through: ``--org`` when given (an account outside it is
    then not found, as on the API's path), else the account's own."""
    if org_id is not None:
        return org_id
    return (await op.accounts.locate(SYSTEM, client_id)).org_id


def request_body(model: type[M], fields: dict[str, Any]) -> M:
    """``fields`` checked as the API checks a request body of ``model``, refused with the API's error."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise validation_to_atlas([{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]) from None


async def every_page(
    fetch: Callable[[PageRequest], Awaitable[tuple[Sequence[T], int]]],
) -> tuple[list[T], int]:
    """Every item of a paginated service list, fetched a full page at a time."""
    items: list[T] = []
    page_num = 1
    while True:
        rows, total = await fetch(PageRequest(page_num, MAX_ITEMS_PER_PAGE, include_count=True))
        items.extend(rows)
        if not rows or len(items) >= total:
            return items, total
        page_num += 1


_DURATION = re.compile(r"(\d{1,9})([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
# Counted back from now (``--recent``) or forward (``--within``), a longer span leaves the calendar datetime knows
# (years 1 to 9999): it ended the command with an OverflowError's traceback. A century is longer than any secret.
MAX_DURATION = timedelta(days=36500)


def duration(text: str | timedelta) -> timedelta:
    """``7d``, ``12h`` or ``30m`` (a typer option parser: a bad value is a usage error, exit code 2). Typer hands
    it an option's default as well, already a ``timedelta``."""
    if isinstance(text, timedelta):
        return text
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise typer.BadParameter(f"{text!r} is not a duration: a whole number of days, hours or minutes (7d, 12h, 30m)")
    span = timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    if span > MAX_DURATION:
        raise typer.BadParameter(f"{text!r} is too long: at most {MAX_DURATION.days} days (100 years)")
    return span


def whole_hours(delta: timedelta, option: str) -> int:
    """A duration as the API's ``…Hours`` fields take it."""
    hours, rest = divmod(delta, timedelta(hours=1))
    if rest:
        raise typer.BadParameter("must be whole hours or days (8h, 90d)", param_hint=option)
    return int(hours)


# --- output ------------------------------------------------------------------------------------------------------


def timestamp(when: datetime | None) -> str:
    """A time as the tables show it: UTC, to the second; ``-`` for none."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else "-"


@dataclass(frozen=True, slots=True)
class Output:
    """What a command prints: ``document`` with ``--json``, ``human`` otherwise."""

    document: Any
    human: str


def emit(output: Output, as_json: bool) -> None:
    typer.echo(json.dumps(output.document, indent=2) if as_json else output.human)


def cell(value: object) -> str:
    """A value as people read it: ``-`` for none, ``true``/``false``, times to the second, lists joined."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, list | tuple):
        return ",".join(cell(item) for item in value) or "-"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str = "(none)") -> str:
    """Columns aligned for a terminal, two spaces apart; the last column is not padded."""
    cells = [[cell(value) for value in row] for row in rows]
    if not cells:
        return empty
    widths = [max(len(row[i]) for row in [list(headers), *cells]) for i in range(len(headers) - 1)]
    lines = [[*headers], *cells]
    return "\n".join(
        "  ".join([*(text.ljust(width) for text, width in zip(line, widths, strict=False)), line[-1]]).rstrip()
        for line in lines
    )


def fields(pairs: Sequence[tuple[str, object]]) -> str:
    """One object's fields, one per line."""
    width = max(len(name) for name, _value in pairs)
    return "\n".join(f"{name.ljust(width)}  {cell(value)}" for name, value in pairs)
