"""Credentials: issued access tokens, token-signing keys, programmatic API keys, and the master key's check value."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from atlas_sa.models.base import Base, UTCDateTime


class AccessToken(Base):
    """An issued, unexpired, unrevoked access token. Revoking a token deletes its row; the row's absence is
    what makes a well-signed JWT invalid, so deleting a secret or an account revokes through the cascade."""

    __tablename__ = "access_tokens"
    __table_args__ = (Index("ix_access_tokens_sa_issued", "service_account_id", "issued_at"),)

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_account_id: Mapped[str] = mapped_column(ForeignKey("service_accounts.id", ondelete="CASCADE"))
    secret_id: Mapped[str] = mapped_column(ForeignKey("service_account_secrets.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SigningKey(Base):
    """A token-signing key pair; the private half encrypted with the server key."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApiKey(Base):
    """A programmatic API key for HTTP Digest. Digest needs the private key itself (to compute HA1), so it is
    stored encrypted with the server key rather than hashed."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[str] = mapped_column(String(32), unique=True)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    description: Mapped[str] = mapped_column(String(250))
    roles: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MasterKeyCheck(Base):
    """The check value of the master key this database's secrets are hashed and sealed with (never the key itself:
    an HMAC of a fixed label, :class:`atlas_sa.kit.crypto.ServerKeys`). One row, ``id`` 1, written with the first
    sealed material; a process holding another key is refused at start (:mod:`atlas_sa.auth.masterkey`)."""

    __tablename__ = "master_key_check"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    check_value: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
