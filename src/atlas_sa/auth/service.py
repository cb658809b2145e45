"""OAuth 2.0 rules: client authentication, revocation (RFC 7009) and introspection (RFC 7662); the
client-credentials grant (RFC 6749 §4.4) is :mod:`atlas_sa.auth.minting`, which authenticates with the same
:func:`matching_secret`. Errors here are RFC 6749 §5.2 errors, not Atlas errors: the token endpoints are the one
place the API answers in OAuth's shape.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from atlas_sa.auth.repository import CredentialRepository, SigningKeyRepository
from atlas_sa.auth.signing import KeyRing
from atlas_sa.auth.tokens import VerifiedToken, verify
from atlas_sa.kit.clock import Clock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.ids import is_client_id
from atlas_sa.models import ServiceAccount, ServiceAccountSecret
from atlas_sa.service_accounts.repository import ServiceAccountRepository

MAX_ACTIVE_TOKENS = 100  # unexpired tokens per account; the mint batch prunes the oldest beyond
# Every authentication compares the presented secret with this many stored hashes (an account holds at most two
# secrets), whether the client id is known or not, so response time does not tell which client ids exist.
_COMPARISONS = 2
_DUMMY_HASH = "0" * 64
# Longer than any secret we issue (``mdb_sa_sk_`` + 40); longer input is refused without hashing it.
_MAX_SECRET_LENGTH = 256


class OAuthError(Exception):
    """An RFC 6749 §5.2 error; the descriptions are Atlas's (``docs/atlas-behavior.md``, OAuth)."""

    error: ClassVar[str]
    description: ClassVar[str]
    status: ClassVar[int] = 400

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    """Malformed request: not a form, a repeated or missing parameter, two client authentications at once."""

    error = "invalid_request"
    description = "The provided credentials are not valid."


class InvalidClient(OAuthError):
    """Client authentication failed: unknown client, wrong/expired secret, or none sent (RFC 6749 §5.2)."""

    error = "invalid_client"
    description = "Invalid credentials provided."
    status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="atlas-sa", charset="UTF-8"'}


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    description = "Invalid grant type."


class ServerError(OAuthError):
    error = "server_error"
    description = "Unexpected error."
    status = 500


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6750 token type


class StoredSecret(Protocol):
    @property
    def secret_hash(self) -> str: ...

    @property
    def expires_at(self) -> datetime: ...


Stored = TypeVar("Stored", bound=StoredSecret)


def matching_secret(secrets: Iterable[Stored], presented_hash: str, secret: str, now: datetime) -> Stored | None:
    """The unexpired secret whose hash is ``presented_hash`` (the keyed hash of ``secret``, the presented secret as
    :func:`candidate_secret` made it): always :data:`_COMPARISONS` constant-time comparisons, against dummies when
    there are fewer secrets, so the work does not tell a known client from an unknown one. The token endpoint's
    cached clients and the other endpoints' rows both go through it."""
    candidates: list[Stored | None] = [s for s in secrets if s.expires_at > now]
    candidates += [None] * (_COMPARISONS - len(candidates))
    matched: Stored | None = None
    for candidate in candidates:
        # No early exit: every candidate is compared, each in constant time.
        ok = hmac.compare_digest(presented_hash, candidate.secret_hash if candidate else _DUMMY_HASH)
        if ok and candidate is not None and secret and matched is None:
            matched = candidate
    return matched


def candidate_secret(presented: str) -> str:
    """The presented secret as compared: an over-long one becomes the empty secret, which matches nothing (it is
    still hashed and compared, so its answer takes as long as any other)."""
    return "" if len(presented) > _MAX_SECRET_LENGTH else presented


class OAuthService:
    def __init__(
        self,
        credentials: CredentialRepository,
        accounts: ServiceAccountRepository,
        signing_keys: SigningKeyRepository,
        ring: KeyRing,
        keys: ServerKeys,
        clock: Clock,
        issuer: str,
    ) -> None:
        self.credentials = credentials
        self.accounts = accounts
        self.signing_keys = signing_keys
        self.ring = ring
        self.keys = keys
        self.clock = clock
        self.issuer = issuer

    async def authenticate_client(
        self, presented: ClientCredentials | None
    ) -> tuple[ServiceAccount, ServiceAccountSecret]:
        """The account and the secret that matched, or ``invalid_client``. Expired secrets never match; deleted
        ones no longer exist."""
        if presented is None:
            raise InvalidClient
        secret = candidate_secret(presented.client_secret)
        # The same queries and comparisons whether or not the client exists: an unknown (or malformed) id looks up
        # the empty id, which matches nothing, so response time does not reveal which client ids exist.
        lookup = presented.client_id if is_client_id(presented.client_id) else ""
        account = await self.accounts.by_client_id(lookup)
        account_id = account.id if account is not None else ""
        stored = (await self.accounts.secrets_of([account_id])).get(account_id, [])
        matched = matching_secret(stored, self.keys.hash_secret(secret), secret, self.clock.now())
        if account is None or matched is None:
            raise InvalidClient
        return account, matched

    async def revoke(self, presented: ClientCredentials | None, token: str) -> None:
        """RFC 7009: delete the token's row, when it was issued to the authenticated client.

        Every other token, whether unknown, malformed, expired, already revoked or another client's live token,
        is left alone with the same 200 and empty body. §2.2 answers invalid tokens with 200; §2.1 says a token of
        another client makes the request "refused" without fixing the response, and refusing it with an error
        (as this once did, 400 ``invalid_grant``) told any client which strings are live tokens of others."""
        account, _secret = await self.authenticate_client(presented)
        verified = await self._verify(token, check_times=False)
        if verified is None or verified.account.id != account.id:
            return
        await self.credentials.delete_token(verified.token.jti)

    async def introspect(self, presented: ClientCredentials | None, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2. A client may introspect tokens of its own organization; any other token, and every
        invalid one, is ``{"active": false}`` (no reason given, so the endpoint cannot be used to probe)."""
        account, _secret = await self.authenticate_client(presented)
        verified = await self._verify(token, check_times=True)
        if verified is None or verified.account.org_id != account.org_id:
            return {"active": False}
        claims = verified.claims
        return {
            "active": True,
            "aud": claims["aud"],
            "client_id": verified.account.client_id,
            "exp": claims["exp"],
            "iat": claims["iat"],
            "iss": claims["iss"],
            "jti": claims["jti"],
            "sub": claims["sub"],
            "token_type": "Bearer",
        }

    async def _verify(self, token: str, *, check_times: bool) -> VerifiedToken | None:
        return await verify(
            token,
            ring=self.ring,
            signing_keys=self.signing_keys,
            credentials=self.credentials,
            issuer=self.issuer,
            now=self.clock.now(),
            check_times=check_times,
        )


async def revoke_all(credentials: CredentialRepository, account: ServiceAccount, now: datetime) -> int:
    """Revoke every live access token of ``account`` (``atlas-sa tokens revoke``, for an operator who suspects a
    leak): their rows go, so each fails its next request (401 ``invalid_token``), here and on every instance. The
    account's secrets stay valid: to stop new tokens too, delete or rotate them. How many were revoked."""
    tokens = await credentials.live_tokens(account.id, now)
    await credentials.delete_tokens(tokens)
    return len(tokens)
