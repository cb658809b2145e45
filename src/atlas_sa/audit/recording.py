"""Recording events: every service that changes something calls :meth:`EventRecorder.record` inside the unit of work
that makes the change, so the event commits with it or not at all. A refused or failed request rolls its whole
transaction back, its events included; a change serialised behind a row lock records exactly one event.

Who acted is an :class:`Actor`, fixed when the recorder is built for a unit of work and never looked up from
anywhere else: the request's authenticated caller (:meth:`Actor.of`), the command line (:data:`CLI`), or the server
itself (:data:`SYSTEM`, for the expiry watch). How an actor appears in an event, with Atlas's fields:

- an API key: ``apiKeyId`` (its id) and ``publicKey``, as Atlas reports API keys;
- a service account: ``userId`` its 24-hex id and ``username`` its client id (``mdb_sa_id_…``): Atlas's fields for
  "who triggered it" are a user's or an API key's, and a service account, like a user, is an identity with an id and
  a name it signs in with;
- the command line: ``username`` ``atlas-sa-cli``, nothing else (it acts on the local database, from no address);
- the server's own work: none of the actor fields.

Every event also names its target (the account, secret, entry, project or key) in ``details``, served as ``raw``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

# Imported for its session hooks: every process that writes records through here, the CLI's commands included, and
# so names what its commits change to every instance's caches (a change the hooks never saw would be missed).
import atlas_sa.changes  # noqa: F401
from atlas_sa.audit.catalogue import EventType
from atlas_sa.identity.principal import Principal
from atlas_sa.kit.clock import Clock
from atlas_sa.kit.ids import new_object_id
from atlas_sa.kit.metrics import EVENTS_WRITTEN
from atlas_sa.models import Event

ActorKind = Literal["service_account", "api_key", "cli", "system"]
CLI_USERNAME = "atlas-sa-cli"
# The types of the events a session has recorded and not yet committed: counted (``atlas_sa_events_written``) when
# the transaction commits, forgotten when it rolls back, so the metric counts only events that exist.
_UNCOMMITTED = "atlas_sa.events_uncommitted"


def _address(text: str | None) -> str | None:
    # Only an IP address is a remote address; a unix socket's path or a test transport's placeholder name is not.
    if not text:
        return None
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return None
    return text


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes the changes of one unit of work, and from where."""

    kind: ActorKind
    user_id: str | None = None
    username: str | None = None
    api_key_id: str | None = None
    public_key: str | None = None
    remote_address: str | None = None
    # The request's id (``X-Request-Id``) once the server assigns one; recorded with each event of the request.
    request_id: str | None = None

    @classmethod
    def of(cls, caller: Principal, *, request_id: str | None = None) -> Actor:
        """The actor of a request made by ``caller``."""
        address = _address(caller.client_ip)
        if caller.kind == "api_key":
            return cls(
                "api_key",
                api_key_id=caller.api_key_id,
                public_key=caller.id,
                remote_address=address,
                request_id=request_id,
            )
        if caller.kind == "service_account":
            return cls(
                "service_account",
                user_id=caller.account_id,
                username=caller.id,
                remote_address=address,
                request_id=request_id,
            )
        return cls("cli", username=CLI_USERNAME, request_id=request_id)


CLI = Actor("cli", username=CLI_USERNAME)
SYSTEM = Actor("system")


class EventRecorder:
    """Writes events into one unit of work, as one actor."""

    def __init__(self, session: AsyncSession, clock: Clock, actor: Actor) -> None:
        self.session = session
        self.clock = clock
        self.actor = actor

    async def record(
        self,
        event_type: EventType,
        *,
        org_id: str,
        group_id: str | None = None,
        target: Mapping[str, Any],
    ) -> Event:
        now = self.clock.now()
        actor = self.actor
        event = Event(
            id=new_object_id(now.timestamp()),
            created_at=now,
            event_type=event_type.value,
            org_id=org_id,
            group_id=group_id,
            actor_kind=actor.kind,
            user_id=actor.user_id,
            username=actor.username,
            api_key_id=actor.api_key_id,
            public_key=actor.public_key,
            remote_address=actor.remote_address,
            request_id=actor.request_id,
            details=dict(target),
        )
        self.session.add(event)
        # Flushed now, not at commit: a failure to write the event fails the request at the change that caused it.
        await self.session.flush()
        self.session.sync_session.info.setdefault(_UNCOMMITTED, []).append(event.event_type)
        return event


@orm_event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for event_type in session.info.pop(_UNCOMMITTED, ()):
        EVENTS_WRITTEN.labels(type=event_type).inc()


@orm_event.listens_for(Session, "after_transaction_end")
def _forget_rolled_back(session: Session, transaction: SessionTransaction) -> None:
    # After a commit the list is already gone; after the outermost transaction rolls back, its events are too.
    if transaction.parent is None:
        session.info.pop(_UNCOMMITTED, None)
