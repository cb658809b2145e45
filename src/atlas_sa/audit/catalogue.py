"""The event types atlas-sa emits, with Atlas's names, descriptions and alertable flags (Atlas docs
``includes/event-types.rst``). ``GET /api/atlas/v2/eventTypes`` lists exactly these; a filter naming another type is
400 ``INVALID_ENUM_VALUE``.

``project`` marks the types Atlas's project events carry (its ``EventTypeForNdsGroup`` enum): the service-account
types and project creation and deletion. Organization lists accept every type here; project lists only these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventType(StrEnum):
    SERVICE_ACCOUNT_CREATED = "SERVICE_ACCOUNT_CREATED"
    SERVICE_ACCOUNT_DELETED = "SERVICE_ACCOUNT_DELETED"
    SERVICE_ACCOUNT_ROLES_CHANGED = "SERVICE_ACCOUNT_ROLES_CHANGED"
    SERVICE_ACCOUNT_DETAILS_CHANGED = "SERVICE_ACCOUNT_DETAILS_CHANGED"
    SERVICE_ACCOUNT_ADDED_TO_GROUP = "SERVICE_ACCOUNT_ADDED_TO_GROUP"
    SERVICE_ACCOUNT_REMOVED_FROM_GROUP = "SERVICE_ACCOUNT_REMOVED_FROM_GROUP"
    SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED = "SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED"
    SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_DELETED = "SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_DELETED"
    SERVICE_ACCOUNT_SECRET_ADDED = "SERVICE_ACCOUNT_SECRET_ADDED"
    SERVICE_ACCOUNT_SECRET_DELETED = "SERVICE_ACCOUNT_SECRET_DELETED"
    ORG_SERVICE_ACCOUNT_MAX_SECRET_VALIDITY_EDITED = "ORG_SERVICE_ACCOUNT_MAX_SECRET_VALIDITY_EDITED"
    ORG_SERVICE_ACCOUNT_SECRETS_EXPIRING = "ORG_SERVICE_ACCOUNT_SECRETS_EXPIRING"
    ORG_SERVICE_ACCOUNT_SECRETS_EXPIRED = "ORG_SERVICE_ACCOUNT_SECRETS_EXPIRED"
    ORG_SERVICE_ACCOUNT_SECRETS_NO_LONGER_EXPIRING = "ORG_SERVICE_ACCOUNT_SECRETS_NO_LONGER_EXPIRING"
    ORG_SERVICE_ACCOUNT_SECRETS_NO_LONGER_EXPIRED = "ORG_SERVICE_ACCOUNT_SECRETS_NO_LONGER_EXPIRED"
    ORG_PUBLIC_API_ACCESS_LIST_REQUIRED = "ORG_PUBLIC_API_ACCESS_LIST_REQUIRED"
    ORG_PUBLIC_API_ACCESS_LIST_NOT_REQUIRED = "ORG_PUBLIC_API_ACCESS_LIST_NOT_REQUIRED"
    ORG_CREATED = "ORG_CREATED"
    GROUP_CREATED = "GROUP_CREATED"
    GROUP_DELETED = "GROUP_DELETED"
    API_KEY_CREATED = "API_KEY_CREATED"
    API_KEY_DELETED = "API_KEY_DELETED"


@dataclass(frozen=True, slots=True)
class EventTypeInfo:
    description: str
    alertable: bool = False
    project: bool = False


CATALOGUE: dict[EventType, EventTypeInfo] = {
    EventType.SERVICE_ACCOUNT_CREATED: EventTypeInfo("Service Account has been created", project=True),
    EventType.SERVICE_ACCOUNT_DELETED: EventTypeInfo("Service Account has been deleted", project=True),
    EventType.SERVICE_ACCOUNT_ROLES_CHANGED: EventTypeInfo("Service Account had its roles changed", project=True),
    EventType.SERVICE_ACCOUNT_DETAILS_CHANGED: EventTypeInfo("Service Account Details have been changed", project=True),
    EventType.SERVICE_ACCOUNT_ADDED_TO_GROUP: EventTypeInfo("Service Account added to Project", project=True),
    EventType.SERVICE_ACCOUNT_REMOVED_FROM_GROUP: EventTypeInfo("Service Account removed from Project", project=True),
    EventType.SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED: EventTypeInfo(
        "Service Account Access List Entry Added", project=True
    ),
    EventType.SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_DELETED: EventTypeInfo(
        "Service Account Access List Entry Deleted", project=True
    ),
    EventType.SERVICE_ACCOUNT_SECRET_ADDED: EventTypeInfo("Service Account Secret Added", project=True),
    EventType.SERVICE_ACCOUNT_SECRET_DELETED: EventTypeInfo("Service Account Secret Deleted", project=True),
    EventType.ORG_SERVICE_ACCOUNT_MAX_SECRET_VALIDITY_EDITED: EventTypeInfo(
        "Maximum allowed Service Account secret validity was changed"
    ),
    EventType.ORG_SERVICE_ACCOUNT_SECRETS_EXPIRING: EventTypeInfo(
        "Organization Service Account Secrets are about to expire", alertable=True
    ),
    EventType.ORG_SERVICE_ACCOUNT_SECRETS_EXPIRED: EventTypeInfo(
        "Organization Service Account Secrets have expired", alertable=True
    ),
    EventType.ORG_SERVICE_ACCOUNT_SECRETS_NO_LONGER_EXPIRING: EventTypeInfo(
        "Alert Resolved: Organization Service Account Secrets are no longer about to expire"
    ),
    EventType.ORG_SERVICE_ACCOUNT_SECRETS_NO_LONGER_EXPIRED: EventTypeInfo(
        "Alert Resolved: Organization Service Account Secrets are no longer expired"
    ),
    EventType.ORG_PUBLIC_API_ACCESS_LIST_REQUIRED: EventTypeInfo("Require IP Access List for Public API Enabled"),
    EventType.ORG_PUBLIC_API_ACCESS_LIST_NOT_REQUIRED: EventTypeInfo("IP Access List for Public API Not Required"),
    EventType.ORG_CREATED: EventTypeInfo("Organization has been created"),
    EventType.GROUP_CREATED: EventTypeInfo("Project was created", project=True),
    EventType.GROUP_DELETED: EventTypeInfo("Project was deleted", project=True),
    EventType.API_KEY_CREATED: EventTypeInfo("A new API key has been created"),
    EventType.API_KEY_DELETED: EventTypeInfo("API key has been deleted"),
}

PROJECT_TYPES = frozenset(t for t, info in CATALOGUE.items() if info.project)
