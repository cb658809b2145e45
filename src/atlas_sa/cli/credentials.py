"""The work of the commands that use the master key: ``serve``'s start-up, ``bootstrap`` and ``keys rotate``. They
call services directly on the database (never over HTTP) and act as the local system.

Each first finds the master key (generating a development key only for a database that holds nothing made with
one), then checks it against the database's check value in the transaction that writes (:mod:`atlas_sa.auth.masterkey`):
a process with another key stops there, before it has sealed anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.auth.masterkey import KeyFileMissing, SigningKeyWithAnotherKey, claim, holds_key_material
from atlas_sa.auth.repository import SigningKeyRepository
from atlas_sa.auth.signing import KeyRing, rotate
from atlas_sa.kit.clock import SystemClock
from atlas_sa.kit.crypto import MissingKeyFile, ServerKeys
from atlas_sa.kit.db import Database
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.onboarding.bootstrap import BootstrapCredentials, bootstrap
from atlas_sa.orgs.repository import OrgRepository
from atlas_sa.settings import Settings

T = TypeVar("T")


class OrgNameTaken(Exception):
    """``bootstrap`` asked for an organization name the database already has."""

    def __init__(self, name: str, org_id: str) -> None:
        super().__init__(name, org_id)
        self.name = name
        self.org_id = org_id


@dataclass(frozen=True, slots=True)
class StartUp:
    keys: ServerKeys
    has_organization: bool


async def _keys_for(settings: Settings, db: Database) -> ServerKeys:
    try:
        return ServerKeys.from_settings(settings)
    except MissingKeyFile as missing:
        async with db.unit_of_work(write=False) as session:
            if await holds_key_material(session):
                # A new key would seal new rows the old ones cannot be read with: never make a second one.
                raise KeyFileMissing(missing.path) from None
        return ServerKeys.from_settings(settings, create=True)


async def run_claimed(
    settings: Settings,
    work: Callable[[AsyncSession, ServerKeys], Awaitable[T]],
    *,
    replacing_signing_key: bool = False,
) -> T:
    """``work`` in one transaction, after the master key is found and claimed (raises ``DatabaseKeyError``)."""
    db = Database(settings.database_url)
    try:
        keys = await _keys_for(settings, db)
        async with db.unit_of_work() as session:
            await claim(session, keys, SystemClock().now(), replacing_signing_key=replacing_signing_key)
            return await work(session, keys)
    finally:
        await db.dispose()


async def start_up(settings: Settings) -> StartUp:
    """``serve``'s checks before it listens: the key is the database's, the active token-signing key opens with it
    (made now when there is none, so the JWKS is never empty), and whether there is an organization yet."""

    async def work(session: AsyncSession, keys: ServerKeys) -> StartUp:
        try:
            # A key the process cannot unseal is an error now, not a 500 on every token request.
            await KeyRing(keys).signing_key(SigningKeyRepository(session), SystemClock().now())
        except InvalidTag:
            raise SigningKeyWithAnotherKey(keys) from None
        _rows, organizations = await OrgRepository(session).page(PageRequest(items_per_page=1))
        return StartUp(keys, organizations > 0)

    return await run_claimed(settings, work)


async def run_bootstrap(settings: Settings, org_name: str, *, force: bool = False) -> BootstrapCredentials:
    async def work(session: AsyncSession, keys: ServerKeys) -> BootstrapCredentials:
        if not force:
            same, _total = await OrgRepository(session).page(PageRequest(items_per_page=1), name=org_name)
            if same:
                raise OrgNameTaken(org_name, same[0].id)
        return await bootstrap(session, keys, SystemClock(), org_name=org_name)

    return await run_claimed(settings, work)


async def run_rotate(settings: Settings) -> str:
    async def work(session: AsyncSession, keys: ServerKeys) -> str:
        row = await rotate(SigningKeyRepository(session), keys, SystemClock().now())
        return row.kid

    return await run_claimed(settings, work, replacing_signing_key=True)


def describe(credentials: BootstrapCredentials, org_name: str, issuer: str, where: str) -> str:
    """The human-readable report; the secret and the private key appear here once and are stored nowhere."""
    basic = f"{credentials.client_id}:{credentials.client_secret}"
    return "\n".join(
        [
            f'Created organization "{org_name}" (orgId {credentials.org_id}) with project "default" '
            f"(groupId {credentials.group_id})",
            f"in {where}.",
            "",
            "Service account, role ORG_OWNER (OAuth 2.0 client credentials). Shown once: store it now.",
            f"  clientId      {credentials.client_id}",
            f"  clientSecret  {credentials.client_secret}",
            f"  expires       {credentials.as_json()['secretExpiresAt']}",
            "",
            "API key, role ORG_OWNER (HTTP Digest). Shown once: store it now.",
            f"  publicKey     {credentials.public_key}",
            f"  privateKey    {credentials.private_key}",
            "",
            "Get an access token (valid one hour) and make a first call:",
            f"  curl -s -u '{basic}' -d grant_type=client_credentials {issuer}/api/oauth/token",
            f"  curl -s -H 'Authorization: Bearer <access_token>' "
            f"-H 'Accept: application/vnd.atlas.2023-01-01+json' {issuer}/api/atlas/v2/orgs/{credentials.org_id}",
        ]
    )
