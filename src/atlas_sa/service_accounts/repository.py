"""All SQL about service accounts, their project assignments and their secrets.

A list page is one statement (:func:`_listing`) that returns one row: the scope's organization, the list's total and
the page's results as JSON text, written by the database as the API writes it (:mod:`atlas_sa.kit.sqljson`) and
spliced into the response unparsed. No ORM entities, no datetime objects, no dict per account, no second round trip
for the scope, the count or the secrets (docs/performance.md, "Lists"). Single-account operations load entities.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, ScalarSelect, Select, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import KeyedColumnElement
from sqlalchemy.sql.expression import Executable

from atlas_sa.changes import account_key, client_key, naming
from atlas_sa.kit.db import fetch_rows
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.kit.sqljson import (
    Json,
    concat,
    json_array,
    json_bool,
    json_object,
    json_plain_string,
    json_string,
    json_strings,
    sql_text,
)
from atlas_sa.models import (
    AccessListEntry,
    Organization,
    Project,
    ProjectAssignment,
    ServiceAccount,
    ServiceAccountSecret,
    iso_utc,
)

# What a secret shows of itself: the public prefix and its last four characters (:func:`masked_four`; the list page's
# statement writes the same in SQL).
MASK_PREFIX = "mdb_sa_sk_..."


def masked_four(last_four: str) -> str:
    """A secret's ``maskedSecretValue``."""
    return MASK_PREFIX + last_four


_AnySelect = Select[*tuple[Any, ...]]


class ListedPage(NamedTuple):
    """A list page as one statement read it: the path's organization (``None``: no such organization or
    project), the list's total, and the page's ``results`` as the API writes them (JSON text, ``[]`` for none)."""

    org_id: str | None
    total: int
    results: str


def _timestamp(column: ColumnElement[datetime | None]) -> Json:
    return json_plain_string(iso_utc(column))


def _secret_json(secret: ReadOnlyColumnCollection[str, KeyedColumnElement[Any]]) -> Json:
    """A secret as ``secret_schema`` (endpoints.py) renders it: masked, ``lastUsedAt`` only once used."""
    return json_object(
        {
            "createdAt": _timestamp(secret.created_at),
            "expiresAt": _timestamp(secret.expires_at),
            "id": json_string(secret.id),
            "lastUsedAt": _timestamp(secret.last_used_at),
            "maskedSecretValue": json_string(concat(sql_text(MASK_PREFIX), secret.last_four)),
        },
        optional={"lastUsedAt"},
    )


def _listing(scope_org: ScalarSelect[str], accounts: _AnySelect) -> _AnySelect:
    """The one statement of a list page (organization or project path): ``accounts`` are the list's accounts
    with a ``roles`` column; ``scope_org`` the organization of the path, to tell an absent one from an empty list.

    One row: the scope's organization, the list's total and the page's ``results``, each an uncorrelated subquery
    evaluated once, from one snapshot, whatever the page holds. The page is a LIMIT/OFFSET subquery in id order,
    read through the (organization, id) or (project, account) index; each account's secrets by their account index
    (EXPLAIN on 100,000 accounts: docs/performance.md). The database writes the results as the API's JSON writer
    would (:mod:`atlas_sa.kit.sqljson`): accounts and secrets as ``org_account_schema`` and ``secret_schema``
    (endpoints.py) render them, keys sorted, timestamps as ``iso_utc`` writes them, so the response splices the text
    in unparsed. The statement is the same for every page (its values are parameters), so it is compiled once and
    psycopg's prepared statements apply.
    """
    total = select(func.count()).select_from(accounts.subquery()).scalar_subquery()
    page = accounts.order_by(ServiceAccount.id).limit(bindparam("limit")).offset(bindparam("offset")).subquery("page")
    secret = ServiceAccountSecret.__table__
    secrets = json_array(
        _secret_json(secret.c),
        secret.c.id,
        select().select_from(secret).where(secret.c.service_account_id == page.c.id).correlate(page),
    )
    account = json_object(
        {
            "clientId": json_string(page.c.client_id),
            "createdAt": _timestamp(page.c.created_at),
            "description": json_string(page.c.description),
            "name": json_string(page.c.name),
            "roles": json_strings(page.c.roles),
            "secrets": secrets,
            "systemManaged": json_bool(page.c.system_managed),
        }
    )
    results = json_array(account, page.c.id, select().select_from(page), in_key_order=True)
    return select(scope_org.label("org_id"), total.label("total"), results.sql().label("results"))


_ACCOUNT_COLUMNS = (
    ServiceAccount.id,
    ServiceAccount.client_id,
    ServiceAccount.name,
    ServiceAccount.description,
    ServiceAccount.system_managed,
    ServiceAccount.created_at,
)


def _listings(scope_org: ScalarSelect[str], accounts: _AnySelect) -> dict[bool, _AnySelect]:
    """The statement without and with system-managed accounts (``includeSystemManaged``)."""
    return {
        False: _listing(scope_org, accounts.where(ServiceAccount.system_managed.is_(False))),
        True: _listing(scope_org, accounts),
    }


_ORG_LISTINGS = _listings(
    select(Organization.id).where(Organization.id == bindparam("scope_id")).scalar_subquery(),
    select(*_ACCOUNT_COLUMNS, ServiceAccount.org_roles.label("roles")).where(
        ServiceAccount.org_id == bindparam("scope_id")
    ),
)
_PROJECT_LISTINGS = _listings(
    select(Project.org_id).where(Project.id == bindparam("scope_id")).scalar_subquery(),
    select(*_ACCOUNT_COLUMNS, ProjectAssignment.roles.label("roles"))
    .join(ProjectAssignment, ProjectAssignment.service_account_id == ServiceAccount.id)
    .where(ProjectAssignment.project_id == bindparam("scope_id")),
)


# How a list page's one statement is run: by the request's session (fetch_rows), or, on the fast path, on a read
# connection of its own (Database.read_rows).
RowReader = Callable[[Executable, Mapping[str, Any]], Awaitable[list[tuple[Any, ...]]]]


async def page_in_org(read: RowReader, org_id: str, page: PageRequest, include_system_managed: bool) -> ListedPage:
    """A page of the organization's accounts, each with its organization roles."""
    return await _listed(read, _ORG_LISTINGS[include_system_managed], org_id, page)


async def page_in_project(
    read: RowReader, project_id: str, page: PageRequest, include_system_managed: bool
) -> ListedPage:
    """A page of the accounts assigned to the project, each with its roles there."""
    return await _listed(read, _PROJECT_LISTINGS[include_system_managed], project_id, page)


async def _listed(read: RowReader, statement: _AnySelect, scope_id: str, page: PageRequest) -> ListedPage:
    values = {"scope_id": scope_id, "limit": page.limit, "offset": page.offset}
    ((org_id, total, results),) = await read(statement, values)
    return ListedPage(org_id, total, results)


class ProjectGone(Exception):
    """The project an assignment names no longer exists (deleted by a concurrent request)."""


class ServiceAccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- accounts ----------------------------------------------------------------------------------------------

    async def add(self, account: ServiceAccount) -> None:
        self.session.add(account)
        await self.session.flush()

    async def by_client_id(self, client_id: str, *, for_update: bool = False) -> ServiceAccount | None:
        statement = select(ServiceAccount).where(ServiceAccount.client_id == client_id)
        if for_update:
            # Serialises writers that enforce per-account limits (secrets, access-list entries) on PostgreSQL;
            # SQLite write transactions already hold the database's write lock (BEGIN IMMEDIATE).
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def count_in_org(self, org_id: str) -> int:
        statement = select(func.count()).select_from(ServiceAccount).where(ServiceAccount.org_id == org_id)
        return (await self.session.execute(statement)).scalar_one()

    async def page_in_org(self, org_id: str, page: PageRequest, *, include_system_managed: bool) -> ListedPage:
        """A page of the organization's accounts, each with its organization roles."""
        return await page_in_org(partial(fetch_rows, self.session), org_id, page, include_system_managed)

    async def page_in_project(self, project_id: str, page: PageRequest, *, include_system_managed: bool) -> ListedPage:
        """A page of the accounts assigned to the project, each with its roles there."""
        return await page_in_project(partial(fetch_rows, self.session), project_id, page, include_system_managed)

    async def delete(self, account: ServiceAccount) -> None:
        # Explicit, child tables first, so nothing depends on the database enforcing its cascades; the access tokens
        # the account holds go by the foreign-key cascade (their rows are what make a token valid). Each statement
        # changes this account alone: its caches go, no other's (atlas_sa.changes).
        changed = naming(account_key(account.id), client_key(account.client_id))
        for table, column in (
            (ProjectAssignment, ProjectAssignment.service_account_id),
            (AccessListEntry, AccessListEntry.service_account_id),
            (ServiceAccountSecret, ServiceAccountSecret.service_account_id),
        ):
            await self.session.execute(delete(table).where(column == account.id).execution_options(**changed))
        await self.session.execute(
            delete(ServiceAccount).where(ServiceAccount.id == account.id).execution_options(**changed)
        )
        await self.session.flush()

    async def flush(self) -> None:
        await self.session.flush()

    # --- project assignments -----------------------------------------------------------------------------------

    async def assignment(self, account_id: str, project_id: str) -> ProjectAssignment | None:
        return await self.session.get(ProjectAssignment, (account_id, project_id))

    async def add_assignment(self, assignment: ProjectAssignment) -> None:
        """Raises :class:`ProjectGone` when the project was deleted meanwhile (its foreign key fails); a savepoint
        keeps the request's transaction usable for the error response."""
        try:
            async with self.session.begin_nested():
                self.session.add(assignment)
        except IntegrityError as exc:
            raise ProjectGone(assignment.project_id) from exc

    async def delete_assignment(self, assignment: ProjectAssignment) -> None:
        await self.session.execute(
            delete(ProjectAssignment)
            .where(
                ProjectAssignment.service_account_id == assignment.service_account_id,
                ProjectAssignment.project_id == assignment.project_id,
            )
            .execution_options(**naming(account_key(assignment.service_account_id)))
        )
        await self.session.flush()

    async def count_assignments(self, account_id: str) -> int:
        statement = (
            select(func.count())
            .select_from(ProjectAssignment)
            .where(ProjectAssignment.service_account_id == account_id)
        )
        return (await self.session.execute(statement)).scalar_one()

    async def assignments_page(self, account_id: str, page: PageRequest) -> tuple[Sequence[ProjectAssignment], int]:
        statement = select(ProjectAssignment).where(ProjectAssignment.service_account_id == account_id)
        total = (await self.session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one()
        ordered = statement.order_by(ProjectAssignment.project_id).offset(page.offset).limit(page.limit)
        return (await self.session.execute(ordered)).scalars().all(), total

    # --- secrets -----------------------------------------------------------------------------------------------

    async def secrets_of(self, account_ids: Collection[str]) -> dict[str, list[ServiceAccountSecret]]:
        found: dict[str, list[ServiceAccountSecret]] = defaultdict(list)
        if not account_ids:
            return found
        statement = (
            select(ServiceAccountSecret)
            .where(ServiceAccountSecret.service_account_id.in_(list(account_ids)))
            .order_by(ServiceAccountSecret.id)
        )
        for secret in (await self.session.execute(statement)).scalars():
            found[secret.service_account_id].append(secret)
        return found

    async def count_secrets(self, account_id: str) -> int:
        statement = (
            select(func.count())
            .select_from(ServiceAccountSecret)
            .where(ServiceAccountSecret.service_account_id == account_id)
        )
        return (await self.session.execute(statement)).scalar_one()

    async def add_secret(self, secret: ServiceAccountSecret) -> None:
        self.session.add(secret)
        await self.session.flush()

    async def cap_secret_expiry(self, account_id: str, latest: datetime, *, except_id: str) -> None:
        """Bring every other secret of the account to expire no later than ``latest``."""
        await self.session.execute(
            update(ServiceAccountSecret)
            .where(
                ServiceAccountSecret.service_account_id == account_id,
                ServiceAccountSecret.id != except_id,
                ServiceAccountSecret.expires_at > latest,
            )
            .values(expires_at=latest)
            .execution_options(**naming(account_key(account_id)))
        )

    async def secret(self, account_id: str, secret_id: str) -> ServiceAccountSecret | None:
        statement = select(ServiceAccountSecret).where(
            ServiceAccountSecret.id == secret_id, ServiceAccountSecret.service_account_id == account_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def delete_secret(self, secret: ServiceAccountSecret) -> None:
        # Tokens minted with the secret go with it (foreign-key cascade): deleting a secret revokes them.
        await self.session.execute(
            delete(ServiceAccountSecret)
            .where(ServiceAccountSecret.id == secret.id)
            .execution_options(**naming(account_key(secret.service_account_id)))
        )
        await self.session.flush()

    async def secrets_expiring(self, until: datetime) -> Sequence[tuple[ServiceAccountSecret, ServiceAccount]]:
        """Every secret of every account that expires by ``until``, expired ones included, soonest first."""
        statement = (
            select(ServiceAccountSecret, ServiceAccount)
            .join(ServiceAccount, ServiceAccount.id == ServiceAccountSecret.service_account_id)
            .where(ServiceAccountSecret.expires_at <= until)
            .order_by(ServiceAccountSecret.expires_at, ServiceAccountSecret.id)
        )
        return [(secret, account) for secret, account in (await self.session.execute(statement)).all()]

    async def count_secrets_expiring(self, after: datetime, until: datetime) -> int:
        """Secrets of every account that expire in ``(after, until]`` (the ``atlas_sa_secrets_expiring`` gauge)."""
        statement = select(func.count()).where(
            ServiceAccountSecret.expires_at > after, ServiceAccountSecret.expires_at <= until
        )
        return (await self.session.execute(statement)).scalar_one()
