"""All SQL about service accounts, their project assignments and their secrets.

List pages read plain rows of the columns they show (:class:`AccountSummary`, :class:`SecretSummary`), not ORM
entities: building, identity-mapping and discarding a hundred accounts and their secrets was the largest share of a
page's CPU (a third of it; cProfile through bench/list_cpu.py). Single-account operations still load entities.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from atlas_sa.changes import account_key, client_key, naming
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import AccessListEntry, ProjectAssignment, ServiceAccount, ServiceAccountSecret


class AccountSummary(NamedTuple):
    """An account as a list page shows it, with the roles of the listing path (organization or project)."""

    id: str
    client_id: str
    org_id: str
    name: str
    description: str
    system_managed: bool
    created_at: datetime
    roles: list[str]


class SecretSummary(NamedTuple):
    id: str
    service_account_id: str
    last_four: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


_SUMMARY_COLUMNS = (
    ServiceAccount.id,
    ServiceAccount.client_id,
    ServiceAccount.org_id,
    ServiceAccount.name,
    ServiceAccount.description,
    ServiceAccount.system_managed,
    ServiceAccount.created_at,
)
# The select of a list page: the summary's columns, the roles last.
_SummarySelect = Select[str, str, str, str, str, bool, datetime, list[str]]
_SECRET_SUMMARY_COLUMNS = (
    ServiceAccountSecret.id,
    ServiceAccountSecret.service_account_id,
    ServiceAccountSecret.last_four,
    ServiceAccountSecret.created_at,
    ServiceAccountSecret.expires_at,
    ServiceAccountSecret.last_used_at,
)
_SecretSummarySelect = Select[str, str, str, datetime, datetime, datetime | None]


def _page_secrets(account_id: InstrumentedAttribute[str], scope_id: InstrumentedAttribute[str]) -> _SecretSummarySelect:
    """The secrets of the accounts in a page's id range (``account_id``) within its organization or project
    (``scope_id``): a page's secrets are selected by scope and range, not by the page's ids, so the SQL is the same
    for every page and SQLAlchemy's compiled cache and psycopg's prepared statements apply (an IN of 100 ids was
    rendered and converted anew on each page, ~0.6 ms on PostgreSQL). The range can hold accounts the page left out.
    """
    return (
        select(*_SECRET_SUMMARY_COLUMNS)
        .join(account_id.class_, account_id == ServiceAccountSecret.service_account_id)
        .where(scope_id == bindparam("scope_id"), account_id.between(bindparam("first_id"), bindparam("last_id")))
        .order_by(ServiceAccountSecret.id)
    )


_ORG_PAGE_SECRETS = _page_secrets(ServiceAccount.id, ServiceAccount.org_id)
_PROJECT_PAGE_SECRETS = _page_secrets(ProjectAssignment.service_account_id, ProjectAssignment.project_id)


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

    async def _page(self, statement: _SummarySelect, page: PageRequest) -> tuple[list[AccountSummary], int]:
        """A page of ``statement``'s accounts in id order, and how many it selects in all.

        The total rides on every row of the page as an uncorrelated subquery, which both databases evaluate once:
        one round trip instead of a count and a page, both from one snapshot, and cheaper on SQLite than a window
        count (which carries every matching row through the sort). Only a page past the end has no row to carry it.
        """
        total_column = select(func.count()).select_from(statement.subquery()).scalar_subquery()
        ordered = statement.add_columns(total_column).order_by(ServiceAccount.id).offset(page.offset).limit(page.limit)
        rows = (await self.session.execute(ordered)).all()
        if rows:
            total: int = rows[0][-1]
        elif page.offset == 0:
            total = 0
        else:
            total = (await self.session.execute(select(total_column))).scalar_one()
        return [AccountSummary(*row[:-1]) for row in rows], total

    async def page_in_org(
        self, org_id: str, page: PageRequest, *, include_system_managed: bool
    ) -> tuple[list[AccountSummary], int]:
        """The organization's accounts, each with its organization roles."""
        statement = select(*_SUMMARY_COLUMNS, ServiceAccount.org_roles).where(ServiceAccount.org_id == org_id)
        if not include_system_managed:
            statement = statement.where(ServiceAccount.system_managed.is_(False))
        return await self._page(statement, page)

    async def page_in_project(
        self, project_id: str, page: PageRequest, *, include_system_managed: bool
    ) -> tuple[list[AccountSummary], int]:
        """The accounts assigned to the project, each with its roles there."""
        statement = (
            select(*_SUMMARY_COLUMNS, ProjectAssignment.roles)
            .join(ProjectAssignment, ProjectAssignment.service_account_id == ServiceAccount.id)
            .where(ProjectAssignment.project_id == project_id)
        )
        if not include_system_managed:
            statement = statement.where(ServiceAccount.system_managed.is_(False))
        return await self._page(statement, page)

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

    async def page_secrets_in_org(self, org_id: str, account_ids: Sequence[str]) -> dict[str, list[SecretSummary]]:
        """The secrets of a page of the organization's accounts (their ids in the page's order), by account."""
        return await self._page_secrets(_ORG_PAGE_SECRETS, org_id, account_ids)

    async def page_secrets_in_project(
        self, project_id: str, account_ids: Sequence[str]
    ) -> dict[str, list[SecretSummary]]:
        """The secrets of a page of the project's accounts (their ids in the page's order), by account."""
        return await self._page_secrets(_PROJECT_PAGE_SECRETS, project_id, account_ids)

    async def _page_secrets(
        self, statement: _SecretSummarySelect, scope_id: str, account_ids: Sequence[str]
    ) -> dict[str, list[SecretSummary]]:
        found: dict[str, list[SecretSummary]] = defaultdict(list)
        if not account_ids:
            return found
        on_page = set(account_ids)
        parameters = {"scope_id": scope_id, "first_id": account_ids[0], "last_id": account_ids[-1]}
        for row in (await self.session.execute(statement, parameters)).all():
            secret = SecretSummary(*row)
            if secret.service_account_id in on_page:
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
