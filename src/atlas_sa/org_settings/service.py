"""Organization settings rules: getOrganizationSettings, updateOrganizationSettings."""

from __future__ import annotations

from atlas_sa.errors import InvalidAttribute
from atlas_sa.identity.principal import Principal
from atlas_sa.identity.roles import Requirement, authorize
from atlas_sa.models import Organization
from atlas_sa.org_settings.schemas import OrganizationSettingsUpdate
from atlas_sa.orgs.service import OrgService


class OrgSettingsService:
    """The settings live on the organization row, so this service works through :class:`OrgService` (and its
    repository) rather than owning SQL of its own."""

    def __init__(self, orgs: OrgService) -> None:
        self.orgs = orgs

    async def get(self, caller: Principal, org_id: str) -> Organization:
        """getOrganizationSettings (Organization Member)."""
        org = await self.orgs.require(org_id)
        authorize(caller, Requirement.ORG_MEMBER, org.id)
        return org

    async def update(self, caller: Principal, org_id: str, changes: OrganizationSettingsUpdate) -> Organization:
        """updateOrganizationSettings (Organization Owner). Absent fields are unchanged; ``null`` is not a value
        of either setting, so it is 400 ``INVALID_ATTRIBUTE`` rather than "unchanged"."""
        org = await self.orgs.require(org_id, for_update=True)
        authorize(caller, Requirement.ORG_OWNER, org.id)
        for name in changes.model_fields_set:
            if getattr(changes, name) is None:
                raise InvalidAttribute(OrganizationSettingsUpdate.model_fields[name].alias)
        if changes.api_access_list_required is not None:
            org.api_access_list_required = changes.api_access_list_required
        if changes.max_service_account_secret_validity_in_hours is not None:
            org.max_secret_validity_hours = changes.max_service_account_secret_validity_in_hours
        return org
