"""The credential commands' work: ``atlas-sa bootstrap`` and ``atlas-sa keys rotate``. Both call services directly on
the database (never over HTTP) and act as the local system."""

from __future__ import annotations

from atlas_sa.auth.bootstrap import BootstrapCredentials, bootstrap
from atlas_sa.auth.repository import SigningKeyRepository
from atlas_sa.auth.signing import new_signing_key, rotate
from atlas_sa.kit.clock import SystemClock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.db import Database
from atlas_sa.settings import Settings


async def run_bootstrap(settings: Settings, keys: ServerKeys, org_name: str) -> BootstrapCredentials:
    db = Database(settings.database_url)
    try:
        async with db.unit_of_work() as session:
            return await bootstrap(session, keys, SystemClock(), org_name=org_name)
    finally:
        await db.dispose()


async def ensure_signing_key(settings: Settings, keys: ServerKeys) -> None:
    """Create the first token-signing key at start-up, so the JWKS is never empty (the token endpoint would
    otherwise create it on first use)."""
    db = Database(settings.database_url)
    try:
        async with db.unit_of_work() as session:
            repository = SigningKeyRepository(session)
            if await repository.active() is None:
                await repository.add(new_signing_key(keys, SystemClock().now()))
    finally:
        await db.dispose()


async def run_rotate(settings: Settings, keys: ServerKeys) -> str:
    db = Database(settings.database_url)
    try:
        async with db.unit_of_work() as session:
            row = await rotate(SigningKeyRepository(session), keys, SystemClock().now())
            return row.kid
    finally:
        await db.dispose()


def describe(credentials: BootstrapCredentials, org_name: str, issuer: str) -> str:
    """The human-readable report; the secret and the private key appear here once and are stored nowhere."""
    basic = f"{credentials.client_id}:{credentials.client_secret}"
    return "\n".join(
        [
            f'Created organization "{org_name}" (orgId {credentials.org_id}) with project "default" '
            f"(groupId {credentials.group_id}).",
            "",
            "Service account, role ORG_OWNER (OAuth 2.0 client credentials). Shown once: store it now.",
            f"  clientId      {credentials.client_id}",
            f"  clientSecret  {credentials.client_secret}",
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
