"""An HTTP client for the app under test: real HTTP semantics through the ASGI transport, authenticated as a real
service account.

``await client.create_org(name)`` bootstraps an organization in-process (the same service ``atlas-sa bootstrap``
calls), then obtains an access token over HTTP from ``/api/oauth/token`` and sends it as the client's default
``Authorization: Bearer`` header: from then on the client is an ``ORG_OWNER`` service account of that organization.
``await client.as_service_account(org_id, roles=..., project_roles=...)`` gives another client, with its own
account and token, for role tables and cross-org isolation; ``client.anonymous()`` one with no credential.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx

from atlas_sa.audit.recording import CLI, EventRecorder
from atlas_sa.kit.state import AppState
from atlas_sa.models import ProjectAssignment
from atlas_sa.onboarding.bootstrap import BootstrapCredentials, bootstrap
from atlas_sa.orgs.repository import OrgRepository
from atlas_sa.orgs.service import OrgService
from atlas_sa.projects.repository import ProjectRepository
from atlas_sa.projects.service import ProjectService
from atlas_sa.service_accounts.repository import ServiceAccountRepository
from atlas_sa.service_accounts.service import NewAccount, ServiceAccountService

SA_VERSION = "2024-08-05"
ORGS_VERSION = "2023-01-01"
TOKEN_PATH = "/api/oauth/token"


def accept(version: str) -> dict[str, str]:
    return {"Accept": f"application/vnd.atlas.{version}+json"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    """HTTP Basic as RFC 6749 §2.3.1 (and the Go SDK) sends it: each half form-urlencoded first."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@dataclass(frozen=True)
class Account:
    """A service account the tests made, with its one secret."""

    org_id: str
    client_id: str
    client_secret: str
    account_id: str


class AtlasClient(httpx.AsyncClient):
    """Sends a versioned Accept unless told otherwise; a later date than any route's version resolves to the
    route's newest version, as Atlas's own samples rely on."""

    DEFAULT_ACCEPT = "application/vnd.atlas.2025-03-12+json"

    def __init__(self, *, app: Any = None, **kwargs: Any) -> None:
        headers = {"Accept": self.DEFAULT_ACCEPT, **kwargs.pop("headers", {})}
        self._transport_arg = kwargs.get("transport")
        self._base_url_arg = kwargs.get("base_url", "")
        super().__init__(headers=headers, **kwargs)
        self.app = app
        self.credentials: BootstrapCredentials | None = None
        self.account: Account | None = None
        self._children: list[AtlasClient] = []

    @property
    def state(self) -> AppState:
        assert self.app is not None, "this client was made without the app; it cannot bootstrap in-process"
        state: AppState = self.app.state.atlas
        return state

    async def __aexit__(self, *args: Any) -> None:
        for child in self._children:
            await child.aclose()
        await super().__aexit__(*args)

    # --- credentials ---------------------------------------------------------------------------------------------

    async def token_for(self, client_id: str, client_secret: str) -> str:
        """A fresh access token from the token endpoint (HTTP Basic)."""
        response = await self.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=basic(client_id, client_secret)
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def use_token(self, token: str) -> None:
        self.headers["Authorization"] = f"Bearer {token}"

    async def login(self, client_id: str, client_secret: str) -> str:
        token = await self.token_for(client_id, client_secret)
        self.use_token(token)
        return token

    def anonymous(self) -> AtlasClient:
        """Another client on the same app, sending no credential."""
        child = AtlasClient(app=self.app, transport=self._transport_arg, base_url=self._base_url_arg)
        self._children.append(child)
        return child

    async def bootstrap(self, name: str = "acme", project_name: str | None = None) -> BootstrapCredentials:
        state = self.state
        async with state.db.unit_of_work() as session:
            return await bootstrap(session, state.keys, state.clock, org_name=name, project_name=project_name)

    async def create_org(self, name: str = "acme") -> str:
        """Bootstrap an organization (no project) and become its ``ORG_OWNER`` service account."""
        credentials = await self.bootstrap(name)
        await self.login(credentials.client_id, credentials.client_secret)
        self.credentials = credentials
        self.account = Account(credentials.org_id, credentials.client_id, credentials.client_secret, "")
        return credentials.org_id

    async def add_account(
        self,
        org_id: str,
        roles: Iterable[str] = ("ORG_MEMBER",),
        project_roles: Mapping[str, Iterable[str]] | None = None,
        *,
        secret_hours: int = 8760,
        name: str = "tester",
    ) -> Account:
        """A service account made in-process (not through the API), with org roles and project assignments."""
        state = self.state
        async with state.db.unit_of_work() as session:
            events = EventRecorder(session, state.clock, CLI)
            orgs = OrgService(OrgRepository(session), state.clock, events)
            projects = ProjectService(ProjectRepository(session), orgs, state.clock, events)
            accounts = ServiceAccountService(
                ServiceAccountRepository(session), orgs, projects, state.clock, state.keys, events
            )
            made = await accounts.create_first(
                await orgs.require(org_id),
                NewAccount(
                    name=name, description="made by a test", roles=list(roles), secret_expires_after_hours=secret_hours
                ),
            )
            assert made.issued is not None
            for group_id, group_roles in (project_roles or {}).items():
                session.add(
                    ProjectAssignment(
                        service_account_id=made.account.id,
                        project_id=group_id,
                        roles=sorted(group_roles),
                        created_at=state.clock.now(),
                    )
                )
        return Account(org_id, made.account.client_id, made.issued.value, made.account.id)

    async def as_service_account(
        self,
        org_id: str,
        roles: Iterable[str] = ("ORG_MEMBER",),
        project_roles: Mapping[str, Iterable[str]] | None = None,
    ) -> AtlasClient:
        """Another client on the same app, authenticated as a new service account with these roles."""
        account = await self.add_account(org_id, roles, project_roles)
        child = self.anonymous()
        await child.login(account.client_id, account.client_secret)
        child.account = account
        return child

    # --- resources -----------------------------------------------------------------------------------------------

    async def create_project(self, org_id: str, name: str = "project-1") -> str:
        response = await self.post("/api/atlas/v2/groups", json={"name": name, "orgId": org_id})
        assert response.status_code == 200, response.text
        group_id: str = response.json()["id"]
        return group_id


# ``connect(app, ip)`` (the ``connect`` fixture): a client of ``app`` whose requests come from ``ip``.
ClientFactory = Callable[..., AtlasClient]
