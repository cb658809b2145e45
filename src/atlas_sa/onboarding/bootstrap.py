"""The first credentials of a fresh installation (``atlas-sa bootstrap``).

Bootstrap acts as the local system: it creates an organization, one project in it, an ``ORG_OWNER`` service account
with one secret, and an ``ORG_OWNER`` programmatic API key, and hands back the only copies of the secret and the
private key. It runs in the caller's unit of work (never over HTTP), so the CLI and the tests share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.api_keys.service import create_api_key
from atlas_sa.audit.recording import CLI, Actor, EventRecorder
from atlas_sa.identity.principal import SYSTEM
from atlas_sa.kit.clock import Clock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.models import DEFAULT_MAX_SECRET_VALIDITY_HOURS
from atlas_sa.orgs.repository import OrgRepository
from atlas_sa.orgs.service import OrgService
from atlas_sa.projects.repository import ProjectRepository
from atlas_sa.projects.service import ProjectService
from atlas_sa.service_accounts.repository import ServiceAccountRepository
from atlas_sa.service_accounts.service import NewAccount, ServiceAccountService

DEFAULT_ORG_NAME = "atlas-sa"
DEFAULT_PROJECT_NAME = "default"


@dataclass(frozen=True, slots=True)
class BootstrapCredentials:
    org_id: str
    group_id: str | None
    client_id: str
    client_secret: str
    secret_expires_at: datetime
    public_key: str
    private_key: str

    def as_json(self) -> dict[str, str | None]:
        return {
            "orgId": self.org_id,
            "groupId": self.group_id,
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            # Atlas's form of timestamps (ISO 8601, UTC, whole seconds).
            "secretExpiresAt": self.secret_expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "publicKey": self.public_key,
            "privateKey": self.private_key,
        }


async def bootstrap(
    session: AsyncSession,
    keys: ServerKeys,
    clock: Clock,
    *,
    org_name: str = DEFAULT_ORG_NAME,
    project_name: str | None = DEFAULT_PROJECT_NAME,
    actor: Actor = CLI,
) -> BootstrapCredentials:
    """Create the organization, its project (none when ``project_name`` is ``None``), an ``ORG_OWNER`` service
    account with one secret valid for the org's maximum (8760 hours) and an ``ORG_OWNER`` API key; each is an event
    of ``actor`` (the command line)."""
    events = EventRecorder(session, clock, actor)
    orgs = OrgService(OrgRepository(session), clock, events)
    projects = ProjectService(ProjectRepository(session), orgs, clock, events)
    org = await orgs.create(SYSTEM, org_name)
    group_id = None
    if project_name is not None:
        group_id = (await projects.create(SYSTEM, project_name, org.id)).id
    accounts = ServiceAccountService(ServiceAccountRepository(session), orgs, projects, clock, keys, events)
    owner = await accounts.create_first(
        org,
        NewAccount(
            name="bootstrap",
            description="Created by atlas-sa bootstrap",
            roles=["ORG_OWNER"],
            secret_expires_after_hours=DEFAULT_MAX_SECRET_VALIDITY_HOURS,
        ),
    )
    assert owner.issued is not None, "an account made with secret_expires_after_hours has a secret"
    public_key, private_key = await create_api_key(
        session, keys, clock, org.id, ["ORG_OWNER"], "Created by atlas-sa bootstrap", events
    )
    return BootstrapCredentials(
        org_id=org.id,
        group_id=group_id,
        client_id=owner.account.client_id,
        client_secret=owner.issued.value,
        secret_expires_at=owner.issued.secret.expires_at,
        public_key=public_key,
        private_key=private_key,
    )
