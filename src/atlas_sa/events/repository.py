"""All SQL about events: the two lists and single reads, the retention purge, and what the expiry watch reads and
remembers about secrets."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, false, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import Event, SecretExpiryNotice, ServiceAccount, ServiceAccountSecret


@dataclass(frozen=True, slots=True)
class EventFilter:
    """``eventType`` (any of), ``excludedEventType`` (none of), ``minDate`` ≤ created ≤ ``maxDate``; ``nothing``
    when a filter no event can match was given (``clusterNames``: no event here concerns a cluster)."""

    types: Collection[str] = ()
    excluded: Collection[str] = ()
    min_date: datetime | None = None
    max_date: datetime | None = None
    nothing: bool = False


@dataclass(frozen=True, slots=True)
class SecretState:
    """A secret the expiry watch looks at: where it stands now, and what was last reported about it."""

    secret_id: str
    org_id: str
    client_id: str
    expires_at: datetime
    reported: str | None


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- reads -------------------------------------------------------------------------------------------------

    async def page(
        self, page: PageRequest, *, org_id: str, group_id: str | None, where: EventFilter
    ) -> tuple[Sequence[Event], int]:
        """A page, newest first. Without ``includeCount`` nothing is counted: one row past the page says whether a
        next page exists, and the total returned is only good for that."""
        statement = self._filtered(org_id, group_id, where)
        newest_first = statement.order_by(Event.created_at.desc(), Event.id.desc()).offset(page.offset)
        if page.include_count:
            total = (await self.session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one()
            rows = (await self.session.execute(newest_first.limit(page.limit))).scalars().all()
            return rows, total
        rows = (await self.session.execute(newest_first.limit(page.limit + 1))).scalars().all()
        return rows[: page.limit], page.offset + len(rows)

    @staticmethod
    def _filtered(org_id: str, group_id: str | None, where: EventFilter) -> Select[Event]:
        statement = select(Event).where(Event.org_id == org_id)
        if group_id is not None:
            statement = statement.where(Event.group_id == group_id)
        if where.nothing:
            statement = statement.where(false())
        if where.types:
            statement = statement.where(Event.event_type.in_(list(where.types)))
        if where.excluded:
            statement = statement.where(Event.event_type.not_in(list(where.excluded)))
        if where.min_date is not None:
            statement = statement.where(Event.created_at >= where.min_date)
        if where.max_date is not None:
            statement = statement.where(Event.created_at <= where.max_date)
        return statement

    async def get(self, event_id: str, *, org_id: str, group_id: str | None = None) -> Event | None:
        event = await self.session.get(Event, event_id)
        if event is None or event.org_id != org_id or (group_id is not None and event.group_id != group_id):
            return None
        return event

    # --- retention ---------------------------------------------------------------------------------------------

    async def purge_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(Event).where(Event.created_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    # --- the expiry watch --------------------------------------------------------------------------------------

    async def secrets_entering(self, state: str, *, after: datetime | None, until: datetime) -> list[SecretState]:
        """Secrets expiring in (``after``, ``until``] whose last report is not ``state``: they enter it."""
        statement = (
            select(
                ServiceAccountSecret.id,
                ServiceAccount.org_id,
                ServiceAccount.client_id,
                ServiceAccountSecret.expires_at,
                SecretExpiryNotice.state,
            )
            .join(ServiceAccount, ServiceAccount.id == ServiceAccountSecret.service_account_id)
            .outerjoin(SecretExpiryNotice, SecretExpiryNotice.secret_id == ServiceAccountSecret.id)
            .where(ServiceAccountSecret.expires_at <= until)
            .where((SecretExpiryNotice.state.is_(None)) | (SecretExpiryNotice.state != state))
            .order_by(ServiceAccountSecret.expires_at, ServiceAccountSecret.id)
        )
        if after is not None:
            statement = statement.where(ServiceAccountSecret.expires_at > after)
        return [SecretState(*row) for row in (await self.session.execute(statement)).all()]

    async def notices_leaving(self, horizon: datetime) -> list[SecretState]:
        """Reported secrets that are gone, or whose expiry is now beyond the warning window."""
        statement = (
            select(
                SecretExpiryNotice.secret_id,
                SecretExpiryNotice.org_id,
                SecretExpiryNotice.client_id,
                SecretExpiryNotice.expires_at,
                SecretExpiryNotice.state,
            )
            .outerjoin(ServiceAccountSecret, ServiceAccountSecret.id == SecretExpiryNotice.secret_id)
            .where(ServiceAccountSecret.id.is_(None) | (ServiceAccountSecret.expires_at > horizon))
            .order_by(SecretExpiryNotice.secret_id)
        )
        return [SecretState(*row) for row in (await self.session.execute(statement)).all()]

    async def note(self, secret: SecretState, state: str) -> None:
        if secret.reported is None:
            self.session.add(
                SecretExpiryNotice(
                    secret_id=secret.secret_id,
                    org_id=secret.org_id,
                    client_id=secret.client_id,
                    state=state,
                    expires_at=secret.expires_at,
                )
            )
            await self.session.flush()
            return
        await self.session.execute(
            update(SecretExpiryNotice)
            .where(SecretExpiryNotice.secret_id == secret.secret_id)
            .values(state=state, expires_at=secret.expires_at)
        )

    async def forget(self, secret_id: str) -> None:
        await self.session.execute(delete(SecretExpiryNotice).where(SecretExpiryNotice.secret_id == secret_id))
