"""Service accounts, their project assignments, secrets and IP access lists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from atlas_sa.models.base import Base, UTCDateTime


class ServiceAccount(Base):
    __tablename__ = "service_accounts"
    __table_args__ = (Index("ix_service_accounts_org_id_id", "org_id", "id"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(34), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(250))
    org_roles: Mapped[list[str]] = mapped_column(JSON)
    system_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProjectAssignment(Base):
    """A service account's roles in one project."""

    __tablename__ = "service_account_projects"
    # A project's accounts in id order: its list pages and their secrets (migration 0003).
    __table_args__ = (Index("ix_service_account_projects_project_id_account", "project_id", "service_account_id"),)

    service_account_id: Mapped[str] = mapped_column(
        ForeignKey("service_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ServiceAccountSecret(Base):
    """A client secret, kept only as a keyed hash (HMAC-SHA256) and its last four characters for masking."""

    __tablename__ = "service_account_secrets"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    service_account_id: Mapped[str] = mapped_column(ForeignKey("service_accounts.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    last_four: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Indexed for the expiry watch (atlas_sa.events.expiry), which looks for secrets by how soon they expire.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AccessListEntry(Base):
    """One network range a service account's tokens may be used from; a single address is a /32 or /128."""

    __tablename__ = "service_account_access_list"

    service_account_id: Mapped[str] = mapped_column(
        ForeignKey("service_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    cidr_block: Mapped[str] = mapped_column(String(64), primary_key=True)
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    request_count: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
