"""Which master key a database belongs to, so that two keys can never split it.

Client secrets are hashed, and API private keys and token-signing keys sealed, under keys derived from one master
key. A process holding another key would hash, seal and sign things the first cannot read: it would mint with its
own signing key while the first answered every token request with a 500. So the database records the check value of
its master key (:class:`atlas_sa.models.MasterKeyCheck`) in the transaction that writes its first sealed row, and
``atlas-sa serve`` and every command that writes credentials call :func:`claim` first: a process whose key does not
match is refused at start, before it has written anything.

A database from before the check existed holds sealed rows and no check value. The key at hand is then tried on
what will be unsealed again (the active signing key, every API key; a retired signing key's private half is never
used again) and recorded only when all of it opens.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.api_keys.service import API_KEY_CONTEXT
from atlas_sa.auth.repository import MasterKeyRepository, SigningKeyRepository
from atlas_sa.auth.signing import SEAL_CONTEXT
from atlas_sa.kit.crypto import KeyError_, ServerKeys

_FIX = (
    "start with the key it was first used with (ATLAS_SA_SECRET_KEY, or the development key file made with it), "
    "or use --database-url for another database"
)


class DatabaseKeyError(KeyError_):
    """The database cannot be used with the master key at hand; the message (one line) says why and what to do."""


class SealedWithAnotherKey(DatabaseKeyError):
    def __init__(self, keys: ServerKeys) -> None:
        super().__init__(f"it belongs to another master key than {keys.source}: {_FIX}")


class SigningKeyWithAnotherKey(DatabaseKeyError):
    def __init__(self, keys: ServerKeys) -> None:
        super().__init__(
            f"its token-signing key was sealed with another master key than {keys.source}, which opens everything "
            "else: run `atlas-sa keys rotate` with this key to replace it, or start with the other key"
        )


class KeyFileMissing(DatabaseKeyError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"it holds credentials made with a master key, but the development key file {path} is missing: restore "
            "the file, or set ATLAS_SA_SECRET_KEY to the key the database was first used with"
        )


def _opens(keys: ServerKeys, sealed: bytes, context: bytes) -> bool:
    try:
        keys.decrypt(sealed, context=context)
    except InvalidTag:
        return False
    return True


async def claim(session: AsyncSession, keys: ServerKeys, now: datetime, *, replacing_signing_key: bool = False) -> None:
    """Check ``keys`` against the database's check value, recording it when there is none yet; raise a
    :class:`DatabaseKeyError` when they differ. Runs in the caller's transaction, before it writes anything sealed.

    ``replacing_signing_key`` (``keys rotate``) leaves the active signing key out of the first-time check: it is about
    to be retired, and never unsealed again.
    """
    repository = MasterKeyRepository(session)
    recorded = await repository.recorded()
    if recorded is None:
        api_keys = await repository.sealed_api_keys()
        if not all(_opens(keys, sealed, API_KEY_CONTEXT) for sealed in api_keys):
            raise SealedWithAnotherKey(keys)
        active = await SigningKeyRepository(session).active()
        if (
            active is not None
            and not replacing_signing_key
            and not _opens(keys, active.private_key_encrypted, SEAL_CONTEXT)
        ):
            raise SigningKeyWithAnotherKey(keys) if api_keys else SealedWithAnotherKey(keys)
        await repository.record(keys.check_value, now)
        # Another process may have recorded its own value between our read and our insert.
        recorded = await repository.recorded()
        assert recorded is not None
    if not hmac.compare_digest(recorded, keys.check_value):
        raise SealedWithAnotherKey(keys)


async def holds_key_material(session: AsyncSession) -> bool:
    """Whether a new master key would cut the database off from what it stores (see :class:`KeyFileMissing`)."""
    return await MasterKeyRepository(session).holds_key_material()
