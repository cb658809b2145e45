"""createOrganization with its optional first service account: an organization and an account, in one unit of work."""

from __future__ import annotations

from atlas_sa.errors import InvalidAttribute, MissingAttribute
from atlas_sa.identity.principal import Principal
from atlas_sa.models import DEFAULT_MAX_SECRET_VALIDITY_HOURS, Organization
from atlas_sa.orgs.service import OrgService
from atlas_sa.service_accounts.service import MIN_SECRET_VALIDITY_HOURS, AccountView, NewAccount, ServiceAccountService


class OnboardingService:
    def __init__(self, orgs: OrgService, accounts: ServiceAccountService) -> None:
        self.orgs = orgs
        self.accounts = accounts

    async def create_organization(
        self, caller: Principal, name: str, first_account: NewAccount | None
    ) -> tuple[Organization, AccountView | None]:
        """createOrganization with the optional ``serviceAccount`` (Atlas's CreateOrganizationRequest): the new
        organization's first credential, whose secret only this response shows. ``secretExpiresAfterHours`` is
        required and bounded by the new org's maximum (8..8760); ``withoutInitialSecret`` makes no sense for a
        first credential and is refused (400 ``INVALID_ATTRIBUTE``). Checked before anything is written."""
        if first_account is not None:
            hours = first_account.secret_expires_after_hours
            if first_account.without_initial_secret:
                raise InvalidAttribute("serviceAccount.withoutInitialSecret")
            if hours is None:
                raise MissingAttribute("serviceAccount.secretExpiresAfterHours")
            if not MIN_SECRET_VALIDITY_HOURS <= hours <= DEFAULT_MAX_SECRET_VALIDITY_HOURS:
                raise InvalidAttribute("serviceAccount.secretExpiresAfterHours")
        org = await self.orgs.create(caller, name)
        if first_account is None:
            return org, None
        return org, await self.accounts.create_first(org, first_account)
