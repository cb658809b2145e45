"""The events' background watch: secret expiry and retention.

Each run, in one transaction, compares every secret with what was last reported about it (``secret_expiry_notices``)
and records Atlas's organization events for each transition, once:

- a secret enters the warning window (it expires within ``ATLAS_SA_SECRET_EXPIRY_WARNING_DAYS``):
  ``ORG_SERVICE_ACCOUNT_SECRETS_EXPIRING``;
- a secret expires: ``ORG_SERVICE_ACCOUNT_SECRETS_EXPIRED`` (also when the watch never saw it expiring);
- a secret that was reported leaves its state, because it was deleted (on its own, or with its account: how a
  secret is replaced) or its expiry moved beyond the window: ``…_SECRETS_NO_LONGER_EXPIRING`` or
  ``…_SECRETS_NO_LONGER_EXPIRED``.

The notice of a secret is written in the transaction that records its event, so a transition is reported once even
if the watch stops half-way. On PostgreSQL one instance at a time runs it: the run starts by taking a transaction-
scoped advisory lock with ``pg_try_advisory_xact_lock``, and an instance that does not get it skips that run (the
notices' primary key would refuse a duplicate anyway). On SQLite every write transaction holds the database's one
write lock, so runs of several processes cannot overlap either.

The same run purges events older than ``ATLAS_SA_EVENT_RETENTION_DAYS``. It reads the injected clock, so tests
move the clock and call :meth:`EventWatch.run_once` instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.audit.catalogue import EventType
from atlas_sa.audit.recording import SYSTEM, EventRecorder
from atlas_sa.events.repository import EventRepository, SecretState
from atlas_sa.kit.clock import Clock, isoformat
from atlas_sa.kit.db import Database
from atlas_sa.kit.state import AppState

log = logging.getLogger("atlas_sa.events.watch")

EXPIRING = "expiring"
EXPIRED = "expired"
# The advisory lock's key: any fixed 64-bit number no other part of the application uses ("atlas-sa" in ASCII).
WATCH_LOCK_KEY = 0x61746C61732D7361

_ENTER = {
    EXPIRING: EventType.ORG_SERVICE_ACCOUNT_SECRETS_EXPIRING,
    EXPIRED: EventType.ORG_SERVICE_ACCOUNT_SECRETS_EXPIRED,
}
_LEAVE = {
    EXPIRING: EventType.ORG_SERVICE_ACCOUNT_SECRETS_NO_LONGER_EXPIRING,
    EXPIRED: EventType.ORG_SERVICE_ACCOUNT_SECRETS_NO_LONGER_EXPIRED,
}


def transition(reported: str | None, current: str | None) -> list[EventType]:
    """The events that take a secret from what was last reported to where it stands now."""
    if reported == current:
        return []
    events = []
    # Leaving "expiring" for "expired" is not a resolution: the secret got worse, and EXPIRED says so.
    if reported is not None and not (reported == EXPIRING and current == EXPIRED):
        events.append(_LEAVE[reported])
    if current is not None:
        events.append(_ENTER[current])
    return events


@dataclass(frozen=True, slots=True)
class WatchRun:
    events: int
    purged: int


class EventWatch:
    def __init__(self, db: Database, clock: Clock, *, warning: timedelta, retention: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.warning = warning
        self.retention = retention

    async def run_once(self) -> WatchRun | None:
        """One pass; ``None`` when another instance holds the watch."""
        async with self.db.unit_of_work(write=True) as session:
            if not await self._lock(session):
                return None
            now = self.clock.now()
            horizon = now + self.warning
            events = EventRepository(session)
            recorder = EventRecorder(session, self.clock, SYSTEM)
            recorded = 0
            for state, after, until in ((EXPIRED, None, now), (EXPIRING, now, horizon)):
                for secret in await events.secrets_entering(state, after=after, until=until):
                    recorded += await self._report(recorder, secret, state)
                    await events.note(secret, state)
            for secret in await events.notices_leaving(horizon):
                recorded += await self._report(recorder, secret, None)
                await events.forget(secret.secret_id)
            purged = await events.purge_before(now - self.retention)
            return WatchRun(recorded, purged)

    async def _lock(self, session: AsyncSession) -> bool:
        if self.db.is_sqlite:
            return True
        result = await session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": WATCH_LOCK_KEY})
        return bool(result.scalar_one())

    @staticmethod
    async def _report(recorder: EventRecorder, secret: SecretState, current: str | None) -> int:
        happened = transition(secret.reported, current)
        for event_type in happened:
            await recorder.record(
                event_type,
                org_id=secret.org_id,
                target={
                    "clientId": secret.client_id,
                    "secretId": secret.secret_id,
                    "expiresAt": isoformat(secret.expires_at),
                },
            )
        return len(happened)

    async def run_forever(self, interval: float) -> None:
        """Runs every ``interval`` seconds until cancelled; a failed run is logged and the next one tries again."""
        while True:
            try:
                run = await self.run_once()
            except Exception:
                log.exception("the events watch failed; it runs again in %s s", interval)
            else:
                if run is not None and (run.events or run.purged):
                    log.info("events watch: %d expiry events, %d old events purged", run.events, run.purged)
            await asyncio.sleep(interval)


def event_watch(state: AppState) -> EventWatch:
    """The app's watch, with the settings' window and retention."""
    settings = state.settings
    return EventWatch(
        state.db,
        state.clock,
        warning=timedelta(days=settings.secret_expiry_warning_days),
        retention=timedelta(days=settings.event_retention_days),
    )


def start_event_watch(state: AppState) -> asyncio.Task[None] | None:
    """Started with the app (its lifespan), unless ``ATLAS_SA_EVENT_WATCH_INTERVAL_SECONDS`` is 0."""
    interval = state.settings.event_watch_interval_seconds
    if not interval:
        return None
    return asyncio.create_task(event_watch(state).run_forever(interval), name="atlas-sa events watch")
