"""The audit trail: one row per change (Atlas's Events API serves them), and what the expiry watch last reported
about each secret."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from atlas_sa.models.base import Base, UTCDateTime


class Event(Base):
    """A change, written in the transaction that made it (:mod:`atlas_sa.audit.recording`).

    No foreign keys. The event of a deleted project or account outlives it. And the organization is a plain column:
    on PostgreSQL a foreign key makes every insert take a share lock on the organization's row, which writers that
    count per organization hold for update. A project delete (the project locked, recording its event) then
    deadlocked with a create in that project (the organization locked, waiting for the project)."""

    __tablename__ = "events"
    __table_args__ = (
        # The two list endpoints, newest first: (scope, created, id) read backwards.
        Index("ix_events_org_id_created_at_id", "org_id", "created_at", "id"),
        Index("ix_events_group_id_created_at_id", "group_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    # Indexed alone for the retention purge, which crosses organizations.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(String(24))
    group_id: Mapped[str | None] = mapped_column(String(24), nullable=True)
    # Who acted: "service_account", "api_key", "cli" or "system" (the server's own background work).
    actor_kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(String(24), nullable=True)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    api_key_id: Mapped[str | None] = mapped_column(String(24), nullable=True)
    public_key: Mapped[str | None] = mapped_column(String(32), nullable=True)
    remote_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # The target (account, secret, entry, project, key) and what changed; served as ``raw`` with includeRaw=true.
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class SecretExpiryNotice(Base):
    """The last expiry state the watch reported for a secret: ``expiring`` or ``expired``. No foreign key to the
    secret: when the secret goes, this row tells the watch to report that it left its state."""

    __tablename__ = "secret_expiry_notices"

    secret_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    # No foreign key, as for events: the watch's inserts take no lock on the organization's row.
    org_id: Mapped[str] = mapped_column(String(24), index=True)
    client_id: Mapped[str] = mapped_column(String(34))
    state: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
