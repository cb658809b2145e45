"""Service-account rules for the Atlas operations

- organization: listOrgServiceAccounts, createOrgServiceAccount, getOrgServiceAccount, updateOrgServiceAccount,
  deleteOrgServiceAccount, getServiceAccountGroups (``/orgs/{orgId}/serviceAccounts/{clientId}/groups``);
- project: listGroupServiceAccounts, createGroupServiceAccount, getGroupServiceAccount, updateGroupServiceAccount,
  deleteGroupServiceAccount, inviteGroupServiceAccount (``:invite``);
- secrets on both paths: createOrgSecret / deleteOrgSecret, createGroupSecret / deleteGroupSecret.

Every method takes the caller and checks the operation's ``x-rolesRequirements`` once the organization or project
in the path is known to exist. An account outside the path's organization, or not assigned to the path's project,
is reported as absent: 404 ``RESOURCE_NOT_FOUND`` with the client id, as is a malformed client id.

Every write to an existing account first locks the account's row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
write transactions are serialised already), so writes to one account run one after another: an update racing a
delete then finds the account gone (404) instead of updating nothing, and per-account limits are counted safely.
Creates lock the organization's row instead, for the per-organization limit. No request locks both kinds.

Every change is recorded as an event in the same unit of work (:mod:`atlas_sa.audit.recording`): one per kind of
change actually made (a PATCH that changes roles and name records two; one that changes nothing, none).
Operations on the project path record the project's id with their events.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from secrets import token_urlsafe
from typing import Protocol

from atlas_sa.audit.catalogue import EventType
from atlas_sa.audit.recording import EventRecorder
from atlas_sa.errors import (
    FieldViolation,
    GroupNotFound,
    InvalidAttribute,
    MaxSecretsPerServiceAccountExceeded,
    MaxServiceAccountsPerOrgExceeded,
    MissingAttribute,
    ResourceNotFound,
    UserUnauthorized,
)
from atlas_sa.identity.principal import Principal
from atlas_sa.identity.roles import Requirement, authorize, authorize_account_change
from atlas_sa.kit.clock import Clock, isoformat
from atlas_sa.kit.ids import is_client_id, is_object_id, new_client_id, new_object_id
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import Organization, Project, ProjectAssignment, ServiceAccount, ServiceAccountSecret
from atlas_sa.orgs.service import OrgService, check_org_id, require_found
from atlas_sa.projects.service import ProjectService, check_group_id, require_found_project
from atlas_sa.service_accounts.repository import ListedPage, ProjectGone, ServiceAccountRepository, masked_four

MAX_SERVICE_ACCOUNTS_PER_ORG = 200
MAX_SECRETS_PER_SERVICE_ACCOUNT = 2
MIN_SECRET_VALIDITY_HOURS = 8
# Creating a secret brings every other secret of the account to expire within this window (Atlas's rotation rule).
ROTATION_WINDOW = timedelta(days=7)
SECRET_PREFIX = "mdb_sa_sk_"  # noqa: S105 - the public prefix of every secret, not a secret
# 30 random bytes, base64url: 40 characters after the prefix, as Atlas's secrets have.
_SECRET_BYTES = 30
SECRET_BODY_LENGTH = 40
_SECRET_RE = re.compile(rf"^{SECRET_PREFIX}[A-Za-z0-9_-]{{{SECRET_BODY_LENGTH}}}$")
PROJECT_MEMBER_ORG_ROLES = ["ORG_MEMBER"]
_HOURS_FIELD = "secretExpiresAfterHours"
# listOrgServiceAccounts' requirement, which its fast path (atlas_sa.service_accounts.fastlist) checks too.
LIST_ORG_REQUIREMENT = Requirement.ORG_READ_ONLY


class SecretHasher(Protocol):
    def hash_secret(self, secret: str) -> str: ...


@dataclass(frozen=True, slots=True)
class NewAccount:
    name: str
    description: str
    roles: Sequence[str]
    secret_expires_after_hours: int | None
    without_initial_secret: bool = False
    # A fixed 24-hex id (its client id is ``mdb_sa_id_`` + it): a seed's (atlas_sa.onboarding.seed); else a new one.
    object_id: str | None = None


@dataclass(frozen=True, slots=True)
class AccountChanges:
    """A partial update: ``None`` leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    roles: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account as one path sees it: its organization roles, or its roles in the path's project. (List pages
    are rows of one statement, :class:`~atlas_sa.service_accounts.repository.ListedPage`.)"""

    account: ServiceAccount
    roles: list[str]
    secrets: Sequence[ServiceAccountSecret]
    # The new secret's value, in the one response that creates it.
    issued: IssuedSecret | None = None


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    secret: ServiceAccountSecret
    value: str


class _Secret(Protocol):
    @property
    def last_four(self) -> str: ...


def new_secret_value() -> str:
    """A new client secret in Atlas's form: ``mdb_sa_sk_`` and 40 base64url characters."""
    return SECRET_PREFIX + token_urlsafe(_SECRET_BYTES)


def is_secret_value(value: str) -> bool:
    """Whether ``value`` has the form :func:`new_secret_value` makes (a seed's fixed secrets must)."""
    return _SECRET_RE.match(value) is not None


def masked(secret: _Secret) -> str:
    return masked_four(secret.last_four)


def _unique(roles: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(roles))


class ServiceAccountService:
    def __init__(
        self,
        accounts: ServiceAccountRepository,
        orgs: OrgService,
        projects: ProjectService,
        clock: Clock,
        hasher: SecretHasher,
        events: EventRecorder,
    ) -> None:
        self.accounts = accounts
        self.orgs = orgs
        self.projects = projects
        self.clock = clock
        self.hasher = hasher
        self.events = events

    # --- scopes, shared with the access-list feature -----------------------------------------------------------

    async def org_scope(
        self, caller: Principal, org_id: str, requirement: Requirement, *, for_update: bool = False
    ) -> Organization:
        org = await self.orgs.require(org_id, for_update=for_update)
        authorize(caller, requirement, org.id)
        return org

    async def project_scope(self, caller: Principal, group_id: str, requirement: Requirement) -> Project:
        project = await self.projects.require(group_id)
        authorize(caller, requirement, project.org_id, project.id)
        return project

    async def account_in_org(self, org_id: str, client_id: str, *, for_update: bool = False) -> ServiceAccount:
        account = (
            await self.accounts.by_client_id(client_id, for_update=for_update) if is_client_id(client_id) else None
        )
        if account is None or account.org_id != org_id:
            raise ResourceNotFound(client_id)
        return account

    async def account_in_project(
        self, project: Project, client_id: str, *, for_update: bool = False
    ) -> tuple[ServiceAccount, ProjectAssignment]:
        account = await self.account_in_org(project.org_id, client_id, for_update=for_update)
        assignment = await self.accounts.assignment(account.id, project.id)
        if assignment is None:
            raise ResourceNotFound(client_id)
        return account, assignment

    async def account_to_change(
        self, caller: Principal, project: Project, client_id: str
    ) -> tuple[ServiceAccount, ProjectAssignment]:
        """The account, locked, for a write through ``project``'s path that changes the account itself (name,
        description, secrets, access list) rather than its membership of the project (its roles there, its
        removal, ``:invite``). The caller has passed the operation's own requirement; this adds the one rule for
        every such write, :func:`~atlas_sa.identity.roles.authorize_account_change`. The account is locked first, so
        a concurrent invite or role change cannot widen it between the check and the write."""
        account, assignment = await self.account_in_project(project, client_id, for_update=True)
        in_other_projects = await self.accounts.count_assignments(account.id) > 1
        authorize_account_change(caller, project.org_id, account.org_roles, in_other_projects=in_other_projects)
        return account, assignment

    # --- views -------------------------------------------------------------------------------------------------

    async def _view(self, account: ServiceAccount, roles: list[str], issued: IssuedSecret | None = None) -> AccountView:
        secrets = (await self.accounts.secrets_of([account.id])).get(account.id, [])
        return AccountView(account, roles, secrets, issued)

    # --- rules shared by both creates --------------------------------------------------------------------------

    def _check_validity(self, org: Organization, hours: int) -> None:
        if not MIN_SECRET_VALIDITY_HOURS <= hours <= org.max_secret_validity_hours:
            raise InvalidAttribute(
                _HOURS_FIELD,
                fields=[
                    FieldViolation(
                        _HOURS_FIELD,
                        f"must be between {MIN_SECRET_VALIDITY_HOURS} and {org.max_secret_validity_hours} hours "
                        "(the organization's maxServiceAccountSecretValidityInHours)",
                    )
                ],
            )

    def _check_initial_secret(self, org: Organization, request: NewAccount) -> None:
        hours = request.secret_expires_after_hours
        if request.without_initial_secret:
            if hours is not None:
                raise InvalidAttribute(
                    _HOURS_FIELD,
                    fields=[FieldViolation(_HOURS_FIELD, "must be absent when withoutInitialSecret is true")],
                )
        elif hours is None:
            raise MissingAttribute(_HOURS_FIELD, fields=[FieldViolation(_HOURS_FIELD, "Field required")])
        else:
            self._check_validity(org, hours)

    async def _create_account(
        self, org: Organization, request: NewAccount, org_roles: list[str]
    ) -> tuple[ServiceAccount, IssuedSecret | None]:
        """Create an account in ``org``, whose row the caller has locked: the count and the insert are atomic."""
        self._check_initial_secret(org, request)
        if await self.accounts.count_in_org(org.id) >= MAX_SERVICE_ACCOUNTS_PER_ORG:
            raise MaxServiceAccountsPerOrgExceeded(org.id, MAX_SERVICE_ACCOUNTS_PER_ORG)
        now = self.clock.now()
        object_id = request.object_id or new_object_id(now.timestamp())
        account = ServiceAccount(
            id=object_id,
            client_id=new_client_id(object_id),
            org_id=org.id,
            name=request.name,
            description=request.description,
            org_roles=org_roles,
            system_managed=False,
            created_at=now,
        )
        await self.accounts.add(account)
        issued = None
        if request.secret_expires_after_hours is not None and not request.without_initial_secret:
            issued = await self._issue_secret(account, request.secret_expires_after_hours, now)
        return account, issued

    async def _issue_secret(self, account: ServiceAccount, hours: int, now: datetime) -> IssuedSecret:
        value = new_secret_value()
        secret = ServiceAccountSecret(
            id=new_object_id(now.timestamp()),
            service_account_id=account.id,
            secret_hash=self.hasher.hash_secret(value),
            last_four=value[-4:],
            created_at=now,
            expires_at=now + timedelta(hours=hours),
            last_used_at=None,
        )
        await self.accounts.add_secret(secret)
        await self.accounts.cap_secret_expiry(account.id, now + ROTATION_WINDOW, except_id=secret.id)
        return IssuedSecret(secret, value)

    async def add_given_secret(
        self, account: ServiceAccount, value: str, expires_at: datetime, *, secret_id: str | None = None
    ) -> IssuedSecret:
        """A secret whose value the local system chose (a seed's, :mod:`atlas_sa.onboarding.seed`), stored hashed
        as every secret is, with its event. At most 2 per account, as createOrgSecret; unlike it, the others keep
        their expiry: a seed declares each secret's, and reapplying it must change nothing. The caller checks the
        value's form and the expiry against the organization's bounds."""
        if await self.accounts.count_secrets(account.id) >= MAX_SECRETS_PER_SERVICE_ACCOUNT:
            raise MaxSecretsPerServiceAccountExceeded(account.client_id, MAX_SECRETS_PER_SERVICE_ACCOUNT)
        now = self.clock.now()
        secret = ServiceAccountSecret(
            id=secret_id or new_object_id(now.timestamp()),
            service_account_id=account.id,
            secret_hash=self.hasher.hash_secret(value),
            last_four=value[-4:],
            created_at=now,
            expires_at=expires_at,
            last_used_at=None,
        )
        await self.accounts.add_secret(secret)
        issued = IssuedSecret(secret, value)
        await self._record_secret_added(account, issued)
        return issued

    async def _create_secret(self, org: Organization, account: ServiceAccount, hours: int) -> IssuedSecret:
        """``account`` is locked by the caller, so two concurrent creates cannot both pass the count."""
        self._check_validity(org, hours)
        if await self.accounts.count_secrets(account.id) >= MAX_SECRETS_PER_SERVICE_ACCOUNT:
            raise MaxSecretsPerServiceAccountExceeded(account.client_id, MAX_SECRETS_PER_SERVICE_ACCOUNT)
        return await self._issue_secret(account, hours, self.clock.now())

    async def _delete_secret(self, account: ServiceAccount, secret_id: str) -> None:
        secret = await self.accounts.secret(account.id, secret_id) if is_object_id(secret_id) else None
        if secret is None:
            raise ResourceNotFound(secret_id)
        await self.accounts.delete_secret(secret)

    def _apply(self, account: ServiceAccount, changes: AccountChanges) -> None:
        if changes.name is not None:
            account.name = changes.name
        if changes.description is not None:
            account.description = changes.description

    @staticmethod
    def _replacement_roles(roles: Sequence[str]) -> list[str]:
        if not roles:
            raise InvalidAttribute("roles", fields=[FieldViolation("roles", "must hold at least one role")])
        return _unique(roles)

    # --- events: one per change made, none for what was left as it was ----------------------------------------

    async def _record(
        self, event_type: EventType, account: ServiceAccount, group_id: str | None = None, **details: object
    ) -> None:
        await self.events.record(
            event_type, org_id=account.org_id, group_id=group_id, target={"clientId": account.client_id, **details}
        )

    async def _record_update(
        self,
        account: ServiceAccount,
        details_before: tuple[str, str],
        roles_before: list[str],
        roles_after: list[str],
        group_id: str | None = None,
    ) -> None:
        if roles_after != roles_before:
            await self._record(
                EventType.SERVICE_ACCOUNT_ROLES_CHANGED,
                account,
                group_id,
                roles=roles_after,
                previousRoles=roles_before,
            )
        if (account.name, account.description) != details_before:
            await self._record(
                EventType.SERVICE_ACCOUNT_DETAILS_CHANGED,
                account,
                group_id,
                serviceAccountName=account.name,
                serviceAccountDescription=account.description,
            )

    async def _record_secret_added(
        self, account: ServiceAccount, issued: IssuedSecret, group_id: str | None = None
    ) -> None:
        await self._record(
            EventType.SERVICE_ACCOUNT_SECRET_ADDED,
            account,
            group_id,
            secretId=issued.secret.id,
            expiresAt=isoformat(issued.secret.expires_at),
        )

    # --- organization operations -------------------------------------------------------------------------------

    async def list_for_org(
        self, caller: Principal, org_id: str, page: PageRequest, *, include_system_managed: bool
    ) -> ListedPage:
        """listOrgServiceAccounts (Organization Read Only): every account of the org, project-created ones too.

        One statement reads the organization with the page (docs/performance.md, "Lists"); its answer is then
        checked as :meth:`org_scope` checks: 404 for an unknown organization before 401 for a missing role."""
        listed = await self.accounts.page_in_org(
            check_org_id(org_id), page, include_system_managed=include_system_managed
        )
        authorize(caller, LIST_ORG_REQUIREMENT, require_found(org_id, listed.org_id))
        return listed

    async def create_for_org(self, caller: Principal, org_id: str, request: NewAccount) -> AccountView:
        """createOrgServiceAccount (Organization Owner). At most 200 accounts per organization, counted under the
        organization's row lock so that concurrent creates cannot overshoot."""
        org = await self.org_scope(caller, org_id, Requirement.ORG_OWNER, for_update=True)
        account, issued = await self._create_account(org, request, _unique(request.roles))
        await self._record(
            EventType.SERVICE_ACCOUNT_CREATED, account, serviceAccountName=account.name, roles=list(account.org_roles)
        )
        return AccountView(account, list(account.org_roles), [issued.secret] if issued else [], issued)

    async def create_first(self, org: Organization, request: NewAccount) -> AccountView:
        """The first account of an organization made in this unit of work, with its secret: ``atlas-sa bootstrap``
        and createOrganization's ``serviceAccount``. The caller has authorized the organization's creation, which
        is the only authority this needs; the organization's rules for a new account apply as they do to
        createOrgServiceAccount. Roles are kept sorted, as those two have always answered them."""
        account, issued = await self._create_account(org, request, sorted(set(request.roles)))
        await self._record(
            EventType.SERVICE_ACCOUNT_CREATED, account, serviceAccountName=account.name, roles=list(account.org_roles)
        )
        return AccountView(account, list(account.org_roles), [issued.secret] if issued else [], issued)

    async def get_for_org(self, caller: Principal, org_id: str, client_id: str) -> AccountView:
        """getOrgServiceAccount (Organization Read Only)."""
        org = await self.org_scope(caller, org_id, Requirement.ORG_READ_ONLY)
        account = await self.account_in_org(org.id, client_id)
        return await self._view(account, list(account.org_roles))

    async def update_for_org(
        self, caller: Principal, org_id: str, client_id: str, changes: AccountChanges
    ) -> AccountView:
        """updateOrgServiceAccount (Organization Owner): absent fields unchanged; ``roles`` replaces the set."""
        org = await self.org_scope(caller, org_id, Requirement.ORG_OWNER)
        account = await self.account_in_org(org.id, client_id, for_update=True)
        details_before, roles_before = (account.name, account.description), list(account.org_roles)
        if changes.roles is not None:
            account.org_roles = self._replacement_roles(changes.roles)
        self._apply(account, changes)
        await self.accounts.flush()
        await self._record_update(account, details_before, roles_before, list(account.org_roles))
        return await self._view(account, list(account.org_roles))

    async def delete_for_org(self, caller: Principal, org_id: str, client_id: str) -> None:
        """deleteOrgServiceAccount (Organization Owner): the account leaves every project, its secrets and access
        list go, and so do the access tokens it holds (revoked at once)."""
        org = await self.org_scope(caller, org_id, Requirement.ORG_OWNER)
        account = await self.account_in_org(org.id, client_id, for_update=True)
        await self._record(EventType.SERVICE_ACCOUNT_DELETED, account, serviceAccountName=account.name)
        await self.accounts.delete(account)

    async def project_assignments(
        self, caller: Principal, org_id: str, client_id: str, page: PageRequest
    ) -> tuple[Sequence[ProjectAssignment], int]:
        """getServiceAccountGroups (Organization Read Only): the projects the account is in, with its roles there."""
        org = await self.org_scope(caller, org_id, Requirement.ORG_READ_ONLY)
        account = await self.account_in_org(org.id, client_id)
        return await self.accounts.assignments_page(account.id, page)

    async def create_secret_for_org(self, caller: Principal, org_id: str, client_id: str, hours: int) -> IssuedSecret:
        """createOrgSecret (Organization Owner): at most 2 secrets; the others then expire within 7 days."""
        org = await self.org_scope(caller, org_id, Requirement.ORG_OWNER)
        account = await self.account_in_org(org.id, client_id, for_update=True)
        issued = await self._create_secret(org, account, hours)
        await self._record_secret_added(account, issued)
        return issued

    async def delete_secret_for_org(self, caller: Principal, org_id: str, client_id: str, secret_id: str) -> None:
        """deleteOrgSecret (Organization Owner); tokens minted with the secret are revoked with it."""
        org = await self.org_scope(caller, org_id, Requirement.ORG_OWNER)
        account = await self.account_in_org(org.id, client_id, for_update=True)
        await self._delete_secret(account, secret_id)
        await self._record(EventType.SERVICE_ACCOUNT_SECRET_DELETED, account, secretId=secret_id)

    async def expiring_secrets(
        self, caller: Principal, until: datetime
    ) -> Sequence[tuple[ServiceAccountSecret, ServiceAccount]]:
        """Every organization's secrets that expire by ``until`` (``atlas-sa secrets expiring``): no API operation
        reads across organizations, so only the local system may."""
        if not caller.is_system:
            raise UserUnauthorized
        return await self.accounts.secrets_expiring(until)

    async def locate(self, caller: Principal, client_id: str) -> ServiceAccount:
        """The account of ``client_id`` in whichever organization holds it (the command line names accounts by
        client id alone; only the local system may look across organizations); 404 ``RESOURCE_NOT_FOUND`` as on
        the API's paths."""
        if not caller.is_system:
            raise UserUnauthorized
        account = await self.accounts.by_client_id(client_id) if is_client_id(client_id) else None
        if account is None:
            raise ResourceNotFound(client_id)
        return account

    # --- project operations ------------------------------------------------------------------------------------

    async def list_for_project(
        self, caller: Principal, group_id: str, page: PageRequest, *, include_system_managed: bool
    ) -> ListedPage:
        """listGroupServiceAccounts (Project Read Only): the accounts with roles in the project; read and checked
        as :meth:`list_for_org` (:meth:`project_scope`'s checks)."""
        listed = await self.accounts.page_in_project(
            check_group_id(group_id), page, include_system_managed=include_system_managed
        )
        org_id = require_found_project(group_id, listed.org_id)
        authorize(caller, Requirement.PROJECT_READ_ONLY, org_id, group_id)
        return listed

    async def create_for_project(self, caller: Principal, group_id: str, request: NewAccount) -> AccountView:
        """createGroupServiceAccount (Project Owner): the account joins the organization as ``ORG_MEMBER`` and the
        project with the given roles; it counts toward the organization's 200."""
        project = await self.project_scope(caller, group_id, Requirement.PROJECT_OWNER)
        org = await self.orgs.require(project.org_id, for_update=True)
        account, issued = await self._create_account(org, request, list(PROJECT_MEMBER_ORG_ROLES))
        roles = _unique(request.roles)
        await self._assign(
            ProjectAssignment(
                service_account_id=account.id, project_id=project.id, roles=roles, created_at=self.clock.now()
            )
        )
        await self._record(
            EventType.SERVICE_ACCOUNT_CREATED, account, project.id, serviceAccountName=account.name, roles=roles
        )
        return AccountView(account, roles, [issued.secret] if issued else [], issued)

    async def get_for_project(self, caller: Principal, group_id: str, client_id: str) -> AccountView:
        """getGroupServiceAccount (Project Read Only)."""
        project = await self.project_scope(caller, group_id, Requirement.PROJECT_READ_ONLY)
        account, assignment = await self.account_in_project(project, client_id)
        return await self._view(account, list(assignment.roles))

    async def update_for_project(
        self, caller: Principal, group_id: str, client_id: str, changes: AccountChanges
    ) -> AccountView:
        """updateGroupServiceAccount (Project Owner): ``roles`` replaces the account's roles in this project (its
        membership: the project's to decide); ``name`` and ``description`` belong to the account and change
        everywhere, so sending either is a change to the account (:meth:`account_to_change`)."""
        project = await self.project_scope(caller, group_id, Requirement.PROJECT_OWNER)
        if changes.name is not None or changes.description is not None:
            account, assignment = await self.account_to_change(caller, project, client_id)
        else:
            account, assignment = await self.account_in_project(project, client_id, for_update=True)
        details_before, roles_before = (account.name, account.description), list(assignment.roles)
        if changes.roles is not None:
            assignment.roles = self._replacement_roles(changes.roles)
        self._apply(account, changes)
        await self.accounts.flush()
        await self._record_update(account, details_before, roles_before, list(assignment.roles), project.id)
        return await self._view(account, list(assignment.roles))

    async def delete_for_project(self, caller: Principal, group_id: str, client_id: str) -> None:
        """deleteGroupServiceAccount (Project Owner): removes the account from this project only; it stays in the
        organization and its credentials stay valid."""
        project = await self.project_scope(caller, group_id, Requirement.PROJECT_OWNER)
        account, assignment = await self.account_in_project(project, client_id, for_update=True)
        await self.accounts.delete_assignment(assignment)
        await self._record(EventType.SERVICE_ACCOUNT_REMOVED_FROM_GROUP, account, project.id)

    async def invite(self, caller: Principal, group_id: str, client_id: str, roles: Sequence[str]) -> AccountView:
        """inviteGroupServiceAccount (Organization Owner): assigns an account of the project's organization to the
        project; an account already there has its roles there replaced (decisions table)."""
        project = await self.project_scope(caller, group_id, Requirement.ORG_OWNER)
        # Locked: two concurrent invites must not both find the account unassigned and both insert.
        account = await self.account_in_org(project.org_id, client_id, for_update=True)
        new_roles = _unique(roles)
        assignment = await self.accounts.assignment(account.id, project.id)
        if assignment is None:
            await self._assign(
                ProjectAssignment(
                    service_account_id=account.id, project_id=project.id, roles=new_roles, created_at=self.clock.now()
                )
            )
            await self._record(EventType.SERVICE_ACCOUNT_ADDED_TO_GROUP, account, project.id, roles=new_roles)
        else:
            roles_before = list(assignment.roles)
            assignment.roles = new_roles
            await self.accounts.flush()
            await self._record_update(account, (account.name, account.description), roles_before, new_roles, project.id)
        return await self._view(account, new_roles)

    async def _assign(self, assignment: ProjectAssignment) -> None:
        try:
            await self.accounts.add_assignment(assignment)
        except ProjectGone:
            # Deleted by a concurrent request after this one found it: report it as the absent project it now is.
            raise GroupNotFound(assignment.project_id) from None

    async def create_secret_for_project(
        self, caller: Principal, group_id: str, client_id: str, hours: int
    ) -> IssuedSecret:
        """createGroupSecret (Project Owner); a secret grants all the account holds (:meth:`account_to_change`)."""
        project = await self.project_scope(caller, group_id, Requirement.PROJECT_OWNER)
        account, _assignment = await self.account_to_change(caller, project, client_id)
        org = await self.orgs.require(project.org_id)
        issued = await self._create_secret(org, account, hours)
        await self._record_secret_added(account, issued, project.id)
        return issued

    async def delete_secret_for_project(self, caller: Principal, group_id: str, client_id: str, secret_id: str) -> None:
        """deleteGroupSecret (Project Owner; :meth:`account_to_change`)."""
        project = await self.project_scope(caller, group_id, Requirement.PROJECT_OWNER)
        account, _assignment = await self.account_to_change(caller, project, client_id)
        await self._delete_secret(account, secret_id)
        await self._record(EventType.SERVICE_ACCOUNT_SECRET_DELETED, account, project.id, secretId=secret_id)
