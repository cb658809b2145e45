"""Organization settings rules: getOrganizationSettings, updateOrganizationSettings."""

from __future__ import annotations

from atlas_sa.audit.catalogue import EventType
from atlas_sa.audit.recording import EventRecorder
from atlas_sa.errors import InvalidAttribute
from atlas_sa.identity.principal import Principal
from atlas_sa.identity.roles import Requirement, authorize
from atlas_sa.models import Organization
from atlas_sa.org_settings.schemas import OrganizationSettingsUpdate
from atlas_sa.orgs.service import OrgService


class OrgSettingsService:
    """The settings live on the organization row, so this service works through :class:`OrgService` (and its
    repository) rather than owning SQL of its own."""

    def __init__(self, orgs: OrgService, events: EventRecorder) -> None:
        self.orgs = orgs
        self.events = events

    async def get(self, caller: Principal, org_id: str) -> Organization:
        """getOrganizationSettings (Organization Member)."""
        org = await self.orgs.require(org_id)
        authorize(caller, Requirement.ORG_MEMBER, org.id)
        return org

    async def update(self, caller: Principal, org_id: str, changes: OrganizationSettingsUpdate) -> Organization:
        """updateOrganizationSettings (Organization Owner). Absent fields are unchanged; ``null`` is not a value
        of either setting, so it is 400 ``INVALID_ATTRIBUTE`` rather than "unchanged". A setting that changes
        records Atlas's event for it: ``ORG_PUBLIC_API_ACCESS_LIST_REQUIRED`` / ``…_NOT_REQUIRED``,
        ``ORG_SERVICE_ACCOUNT_MAX_SECRET_VALIDITY_EDITED``."""
        org = await self.orgs.require(org_id, for_update=True)
        authorize(caller, Requirement.ORG_OWNER, org.id)
        for name in changes.model_fields_set:
            if getattr(changes, name) is None:
                raise InvalidAttribute(OrganizationSettingsUpdate.model_fields[name].alias)
        required = changes.api_access_list_required
        if required is not None and required != org.api_access_list_required:
            org.api_access_list_required = required
            await self.events.record(
                EventType.ORG_PUBLIC_API_ACCESS_LIST_REQUIRED
                if required
                else EventType.ORG_PUBLIC_API_ACCESS_LIST_NOT_REQUIRED,
                org_id=org.id,
                target={"apiAccessListRequired": required},
            )
        hours = changes.max_service_account_secret_validity_in_hours
        if hours is not None and hours != org.max_secret_validity_hours:
            previous = org.max_secret_validity_hours
            org.max_secret_validity_hours = hours
            await self.events.record(
                EventType.ORG_SERVICE_ACCOUNT_MAX_SECRET_VALIDITY_EDITED,
                org_id=org.id,
                target={
                    "maxServiceAccountSecretValidityInHours": hours,
                    "previousMaxServiceAccountSecretValidityInHours": previous,
                },
            )
        return org
