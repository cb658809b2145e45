"""Programmatic API keys (Atlas ``createApiKey``'s credential shape) for the command line (bootstrap, seeds,
``atlas-sa api-keys``) and tests; the API serves none of Atlas's ``/apiKeys`` operations, so no role is checked here.

An Atlas public key is 8 lowercase letters; the private key is a UUID. The private key is shown once, by the
caller of :func:`create_api_key`, and stored only sealed with the server's encryption key: HTTP Digest needs the
key itself to compute HA1, so it cannot be hashed.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.api_keys.repository import ApiKeyRepository
from atlas_sa.audit.catalogue import EventType
from atlas_sa.audit.recording import EventRecorder
from atlas_sa.errors import InvalidAttribute, InvalidEnumValue, MissingAttribute, OrgNotFound, ResourceNotFound
from atlas_sa.identity.roles import ORG_ROLES
from atlas_sa.kit.clock import Clock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.ids import is_object_id, new_object_id
from atlas_sa.models import ApiKey
from atlas_sa.orgs.repository import OrgRepository

PUBLIC_KEY_LENGTH = 8
MAX_DESCRIPTION_LENGTH = 250
# 26^8 ≈ 2·10^11 public keys: a clash is rare, and a few fresh draws make one vanishingly unlikely.
_PUBLIC_KEY_ATTEMPTS = 5
API_KEY_CONTEXT = b"api-key"
"""The AES-GCM associated data an API key's private key is sealed with (Digest unseals it with the same)."""


def new_public_key() -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(PUBLIC_KEY_LENGTH))


def is_public_key(value: str) -> bool:
    """Whether ``value`` has the form :func:`new_public_key` makes (a seed's fixed public keys must)."""
    return len(value) == PUBLIC_KEY_LENGTH and all(letter in string.ascii_lowercase for letter in value)


def new_private_key() -> str:
    return str(uuid.uuid4())


def is_private_key(value: str) -> bool:
    """Whether ``value`` is a UUID written as :func:`new_private_key` writes one (lowercase, hyphenated), the form
    Atlas's private keys have (a seed's fixed private keys must)."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


async def create_api_key(
    session: AsyncSession,
    keys: ServerKeys,
    clock: Clock,
    org_id: str,
    roles: Iterable[str],
    description: str,
    events: EventRecorder,
    *,
    fixed: tuple[str, str] | None = None,
    key_id: str | None = None,
) -> tuple[str, str]:
    """A new API key of ``org_id`` with the given org roles; returns ``(public_key, private_key)``.

    Raises 404 ``ORG_NOT_FOUND`` for an unknown organization, 400 ``MISSING_ATTRIBUTE`` without roles,
    400 ``INVALID_ENUM_VALUE`` for a role that is not an org role, 400 ``INVALID_ATTRIBUTE`` for a description
    that is empty or longer than 250 characters. Never commits: the caller's unit of work does. Records
    ``API_KEY_CREATED``. ``fixed``: the ``(public_key, private_key)`` to store instead of new ones (a seed's,
    :mod:`atlas_sa.onboarding.seed`, which checks their form and that the public key is free); ``key_id``: the
    24-hex id to store instead of a new one (a seed's too).
    """
    role_list = sorted(set(roles))
    if not role_list:
        raise MissingAttribute("roles")
    for role in role_list:
        if role not in ORG_ROLES:
            raise InvalidEnumValue(role)
    if not 1 <= len(description) <= MAX_DESCRIPTION_LENGTH:
        raise InvalidAttribute("desc")
    if await OrgRepository(session).get(org_id) is None:
        raise OrgNotFound(org_id)
    repository = ApiKeyRepository(session)
    if fixed is not None:
        public_key, private_key = fixed
    else:
        for _ in range(_PUBLIC_KEY_ATTEMPTS):
            public_key = new_public_key()
            if await repository.get_by_public_key(public_key) is None:
                break
        else:
            raise RuntimeError("could not draw an unused API public key")
        private_key = new_private_key()
    now = clock.now()
    row = ApiKey(
        id=key_id or new_object_id(now.timestamp()),
        org_id=org_id,
        public_key=public_key,
        private_key_encrypted=keys.encrypt(private_key.encode(), context=API_KEY_CONTEXT),
        description=description,
        roles=role_list,
        created_at=now,
    )
    await repository.add(row)
    await events.record(
        EventType.API_KEY_CREATED,
        org_id=org_id,
        target={"apiKeyId": row.id, "publicKey": public_key, "roles": role_list},
    )
    return public_key, private_key


async def api_key_by_public_key(session: AsyncSession, public_key: str) -> ApiKey | None:
    """The API key with this public key (a Digest caller's ``Principal.id``), or ``None``."""
    return await ApiKeyRepository(session).get_by_public_key(public_key)


async def list_api_keys(session: AsyncSession, org_id: str | None) -> Sequence[ApiKey]:
    """listApiKeys: an organization's keys (404 ``ORG_NOT_FOUND`` for an unknown one), or every organization's."""
    if org_id is not None and await OrgRepository(session).get(org_id) is None:
        raise OrgNotFound(org_id)
    return await ApiKeyRepository(session).all_of(org_id)


async def delete_api_key(
    session: AsyncSession, key: str, events: EventRecorder, *, org_id: str | None = None
) -> ApiKey:
    """deleteApiKey: the key named by its id or its public key, in ``org_id`` when given (another organization's is
    absent, as on the API's path: 404 ``RESOURCE_NOT_FOUND``). Digest looks keys up on every request, so the key
    stops authenticating at the commit. Records ``API_KEY_DELETED``."""
    repository = ApiKeyRepository(session)
    row = await repository.get(key) if is_object_id(key) else await repository.get_by_public_key(key[:32])
    if org_id is not None and await OrgRepository(session).get(org_id) is None:
        raise OrgNotFound(org_id)
    if row is None or (org_id is not None and row.org_id != org_id):
        raise ResourceNotFound(key)
    await repository.delete(row)
    await events.record(
        EventType.API_KEY_DELETED, org_id=row.org_id, target={"apiKeyId": row.id, "publicKey": row.public_key}
    )
    return row
