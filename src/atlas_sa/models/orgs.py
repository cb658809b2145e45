"""Organizations and projects (Atlas "groups"): what service accounts hang on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from atlas_sa.models.base import Base, UTCDateTime

DEFAULT_MAX_SECRET_VALIDITY_HOURS = 8760


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    api_access_list_required: Mapped[bool] = mapped_column(Boolean, default=False)
    max_secret_validity_hours: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_SECRET_VALIDITY_HOURS)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_projects_org_id_name"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
