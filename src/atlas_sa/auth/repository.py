"""All SQL about credentials: service-account secrets as the token endpoint sees them, issued tokens, signing keys,
the master key's check value."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, delete, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.changes import naming, token_key
from atlas_sa.models import (
    AccessToken,
    ApiKey,
    Base,
    MasterKeyCheck,
    ProjectAssignment,
    ServiceAccount,
    ServiceAccountSecret,
    SigningKey,
)

_ACCOUNTS = Base.metadata.tables[ServiceAccount.__tablename__]
_SECRETS = Base.metadata.tables[ServiceAccountSecret.__tablename__]
# A client and its secrets in one statement of plain rows, built once: what the token endpoint reads when its client
# cache cannot answer. Plain rows rather than entities, so that an account's rows cost next to nothing more to
# read than none (timing must not tell known client ids from unknown ones).
_CLIENT_SECRETS = (
    select(
        _ACCOUNTS.c.id,
        _ACCOUNTS.c.client_id,
        _ACCOUNTS.c.org_id,
        _SECRETS.c.id.label("secret_id"),
        _SECRETS.c.secret_hash,
        _SECRETS.c.expires_at,
    )
    .select_from(_ACCOUNTS.outerjoin(_SECRETS, _SECRETS.c.service_account_id == _ACCOUNTS.c.id))
    .where(_ACCOUNTS.c.client_id == bindparam("client_id"))
    .order_by(_SECRETS.c.id)
)


class ClientSecret(NamedTuple):
    account_id: str
    client_id: str
    org_id: str
    secret_id: str | None
    secret_hash: str | None
    expires_at: datetime | None


class CredentialRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def client_secrets(self, client_id: str) -> list[ClientSecret]:
        """The account's ids with each of its secrets, one row per secret (one row with ``secret_id=None`` for an
        account without any); no rows for an unknown client id."""
        rows = await self.session.execute(_CLIENT_SECRETS, {"client_id": client_id})
        return [ClientSecret(*row) for row in rows]

    async def token_with_account(self, jti: str) -> tuple[AccessToken, ServiceAccount] | None:
        statement = (
            select(AccessToken, ServiceAccount)
            .join(ServiceAccount, ServiceAccount.id == AccessToken.service_account_id)
            .where(AccessToken.jti == jti)
        )
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def delete_token(self, jti: str) -> None:
        await self.session.execute(
            delete(AccessToken).where(AccessToken.jti == jti).execution_options(**naming(token_key(jti)))
        )

    async def live_tokens(self, account_id: str, now: datetime) -> Sequence[AccessToken]:
        """The account's unexpired tokens (at most ``MAX_ACTIVE_TOKENS``, the mint batch prunes beyond)."""
        statement = select(AccessToken).where(
            AccessToken.service_account_id == account_id, AccessToken.expires_at > now
        )
        return (await self.session.execute(statement)).scalars().all()

    async def delete_tokens(self, tokens: Sequence[AccessToken]) -> None:
        # One by one through the session, not one bulk DELETE: the cache hooks then drop exactly these tokens, on
        # every instance (atlas_sa.auth.cache), rather than everything every instance has cached.
        for token in tokens:
            await self.session.delete(token)
        await self.session.flush()

    async def project_roles(self, account_id: str) -> dict[str, frozenset[str]]:
        statement = select(ProjectAssignment.project_id, ProjectAssignment.roles).where(
            ProjectAssignment.service_account_id == account_id
        )
        return {project_id: frozenset(roles) for project_id, roles in (await self.session.execute(statement)).all()}


class SigningKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active(self) -> SigningKey | None:
        statement = (
            select(SigningKey)
            .where(SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at.desc(), SigningKey.kid)
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get(self, kid: str) -> SigningKey | None:
        return await self.session.get(SigningKey, kid)

    async def add(self, row: SigningKey) -> None:
        self.session.add(row)
        await self.session.flush()

    async def all(self) -> Sequence[SigningKey]:
        statement = select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.kid)
        return (await self.session.execute(statement)).scalars().all()

    async def retire_active(self, when: datetime) -> None:
        await self.session.execute(update(SigningKey).where(SigningKey.retired_at.is_(None)).values(retired_at=when))


class MasterKeyRepository:
    _ROW = 1

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def recorded(self) -> str | None:
        statement = select(MasterKeyCheck.check_value).where(MasterKeyCheck.id == self._ROW)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def record(self, check_value: str, when: datetime) -> None:
        """Insert the check value unless a row is there already (another process won the race: the caller reads
        back which value stands)."""
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(MasterKeyCheck)
            .values(id=self._ROW, check_value=check_value, recorded_at=when)
            .on_conflict_do_nothing(index_elements=[MasterKeyCheck.id])
        )
        await self.session.execute(statement)

    async def holds_key_material(self) -> bool:
        """Whether anything stored depends on a master key: a check value, a sealed row, a hashed secret."""
        for model in (MasterKeyCheck, SigningKey, ApiKey, ServiceAccountSecret):
            if (await self.session.execute(select(literal(1)).select_from(model).limit(1))).first() is not None:
                return True
        return False

    async def sealed_api_keys(self) -> Sequence[bytes]:
        return (await self.session.execute(select(ApiKey.private_key_encrypted))).scalars().all()
