"""All tables; importing this module registers them on :data:`Base.metadata` (Alembic needs that)."""

from atlas_sa.models.auth import AccessToken, ApiKey, MasterKeyCheck, SigningKey
from atlas_sa.models.base import Base, UTCDateTime, iso_utc
from atlas_sa.models.changes import ChangeLogEntry
from atlas_sa.models.events import Event, SecretExpiryNotice
from atlas_sa.models.orgs import DEFAULT_MAX_SECRET_VALIDITY_HOURS, Organization, Project
from atlas_sa.models.ratelimit import RateLimitBucket
from atlas_sa.models.service_accounts import (
    AccessListEntry,
    ProjectAssignment,
    ServiceAccount,
    ServiceAccountSecret,
)

__all__ = [
    "DEFAULT_MAX_SECRET_VALIDITY_HOURS",
    "AccessListEntry",
    "AccessToken",
    "ApiKey",
    "Base",
    "ChangeLogEntry",
    "Event",
    "MasterKeyCheck",
    "Organization",
    "Project",
    "ProjectAssignment",
    "RateLimitBucket",
    "SecretExpiryNotice",
    "ServiceAccount",
    "ServiceAccountSecret",
    "SigningKey",
    "UTCDateTime",
    "iso_utc",
]
