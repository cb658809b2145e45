"""Organization rules: createOrganization, getOrganization, listOrganizations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from atlas_sa.audit.catalogue import EventType
from atlas_sa.audit.recording import EventRecorder
from atlas_sa.errors import InvalidOrgId, OrgNotFound, UserUnauthorized
from atlas_sa.identity.principal import Principal
from atlas_sa.identity.roles import Requirement, authorize
from atlas_sa.kit.clock import Clock
from atlas_sa.kit.ids import is_object_id, new_object_id
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import DEFAULT_MAX_SECRET_VALIDITY_HOURS, Organization
from atlas_sa.orgs.repository import OrgRepository


def check_org_id(org_id: str) -> str:
    """Malformed ids are 404 ``INVALID_ORG_ID`` (Atlas's catalogue answers 404, not 400)."""
    if not is_object_id(org_id):
        raise InvalidOrgId(org_id)
    return org_id


_T = TypeVar("_T")


def require_found(org_id: str, found: _T | None) -> _T:
    """What was found of the organization ``org_id`` (the row, or what a joined read took of it), or 404
    ``ORG_NOT_FOUND`` when nothing was."""
    if found is None:
        raise OrgNotFound(org_id)
    return found


class OrgService:
    def __init__(self, orgs: OrgRepository, clock: Clock, events: EventRecorder) -> None:
        self.orgs = orgs
        self.clock = clock
        self.events = events

    async def require(self, org_id: str, *, for_update: bool = False) -> Organization:
        """The organization, or 404 (``INVALID_ORG_ID`` when malformed, ``ORG_NOT_FOUND`` when unknown)."""
        return require_found(org_id, await self.orgs.get(check_org_id(org_id), for_update=for_update))

    async def create(self, caller: Principal, name: str, *, org_id: str | None = None) -> Organization:
        """createOrganization. Only the local system (the CLI) or a credential holding ``ORG_OWNER`` in its own
        organization may create organizations (Atlas requires Organization Owner of the requesting org). The
        creator gains no access to the new organization: its first credential is the ``serviceAccount`` the request
        may carry (:mod:`atlas_sa.onboarding`). ``org_id``: a fixed id (a seed's, :mod:`atlas_sa.onboarding.seed`)."""
        if not (caller.is_system or "ORG_OWNER" in caller.org_roles):
            raise UserUnauthorized
        now = self.clock.now()
        org = Organization(
            id=org_id or new_object_id(now.timestamp()),
            name=name,
            created_at=now,
            api_access_list_required=False,
            max_secret_validity_hours=DEFAULT_MAX_SECRET_VALIDITY_HOURS,
        )
        await self.orgs.add(org)
        await self.events.record(EventType.ORG_CREATED, org_id=org.id, target={"orgName": name})
        return org

    async def get(self, caller: Principal, org_id: str) -> Organization:
        """getOrganization (Organization Member)."""
        org = await self.require(org_id)
        authorize(caller, Requirement.ORG_MEMBER, org.id)
        return org

    async def list(self, caller: Principal, page: PageRequest, name: str | None) -> tuple[Sequence[Organization], int]:
        """listOrganizations: the organizations the caller belongs to."""
        only = None if caller.is_system else ([caller.org_id] if caller.org_id else [])
        return await self.orgs.page(page, name=name, only_ids=only)
