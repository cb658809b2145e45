"""Service-account rows as the auth layer makes them: the first credential of a new organization (bootstrap, and
``createOrganization`` with a ``serviceAccount``). Secrets follow Atlas's shape and are stored only as keyed hashes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.kit.clock import Clock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.ids import new_client_id, new_object_id
from atlas_sa.models import ServiceAccount, ServiceAccountSecret

SECRET_PREFIX = "mdb_sa_sk_"  # noqa: S105 - the public prefix of every secret, not a secret


def new_secret_value() -> str:
    """Atlas's shape: ``mdb_sa_sk_`` + 40 URL-safe characters (30 random bytes)."""
    return SECRET_PREFIX + secrets.token_urlsafe(30)


@dataclass(frozen=True, slots=True)
class NewServiceAccount:
    account: ServiceAccount
    secret: ServiceAccountSecret
    secret_value: str


async def add_service_account(
    session: AsyncSession,
    keys: ServerKeys,
    clock: Clock,
    *,
    org_id: str,
    name: str,
    description: str,
    roles: Iterable[str],
    secret_hours: int,
) -> NewServiceAccount:
    """An org service account with one secret (stored as a keyed hash); the secret's value is returned once."""
    now = clock.now()
    account_id = new_object_id(now.timestamp())
    account = ServiceAccount(
        id=account_id,
        client_id=new_client_id(account_id),
        org_id=org_id,
        name=name,
        description=description,
        org_roles=sorted(set(roles)),
        system_managed=False,
        created_at=now,
    )
    session.add(account)
    await session.flush()
    value = new_secret_value()
    secret = ServiceAccountSecret(
        id=new_object_id(now.timestamp()),
        service_account_id=account.id,
        secret_hash=keys.hash_secret(value),
        last_four=value[-4:],
        created_at=now,
        expires_at=now + timedelta(hours=secret_hours),
        last_used_at=None,
    )
    session.add(secret)
    await session.flush()
    return NewServiceAccount(account, secret, value)


class AccountFactory:
    """:func:`add_service_account` bound to a unit of work, for services that take collaborators."""

    def __init__(self, session: AsyncSession, keys: ServerKeys, clock: Clock) -> None:
        self.session = session
        self.keys = keys
        self.clock = clock

    async def add(
        self, *, org_id: str, name: str, description: str, roles: Iterable[str], secret_hours: int
    ) -> NewServiceAccount:
        return await add_service_account(
            self.session,
            self.keys,
            self.clock,
            org_id=org_id,
            name=name,
            description=description,
            roles=roles,
            secret_hours=secret_hours,
        )
