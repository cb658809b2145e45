"""The caller of a request, as an endpoint dependency: every ``/api/atlas/v2`` route takes a :data:`Caller`, so every
one of them requires a credential.

- ``Authorization: Bearer <jwt>``: an access token from ``POST /api/oauth/token`` (:mod:`atlas_sa.auth.tokens`).
- ``Authorization: Digest ...``: a programmatic API key (:mod:`atlas_sa.auth.digest`).
- Anything else, or nothing: 401 ``UNAUTHORIZED`` with a Digest challenge, as Atlas answers.

A service account then passes its IP access list (:mod:`atlas_sa.auth.network`).

Order of checks, deliberately: the Atlas route wrapper resolves the ``Accept`` version *before* any dependency runs,
so a request with an unusable Accept gets 406 ``INVALID_VERSION_DATE`` whatever its credential. A 406 reveals nothing
about any resource, and refusing it first spares a signature check and a database lookup for a request that cannot
succeed anyway. Among the dependencies the caller comes first, so 401 precedes 404 and body validation (400): an
unauthenticated client learns nothing about which ids exist or what a body should look like.

Authentication runs on every request (no cache across requests): the token's row is read each time, which is what
makes revocation and account deletion take effect on the next request. Dependencies are ``async def`` (see
:func:`atlas_sa.kit.routing.request_session`); the signature check is ~0.2 ms of CPU, cheaper than a thread hop.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from atlas_sa.auth.principal import Principal
from atlas_sa.auth.repository import CredentialRepository, SigningKeyRepository
from atlas_sa.auth.signing import key_ring
from atlas_sa.auth.tokens import verify
from atlas_sa.errors import Unauthorized
from atlas_sa.kit.routing import request_session
from atlas_sa.kit.state import app_state

BEARER_CHALLENGE = 'Bearer error="invalid_token"'
# Used only while the Digest module is absent (it brings Atlas's own challenge with a fresh nonce).
_FALLBACK_CHALLENGE = 'Bearer realm="atlas-sa"'


def _optional_module(name: str) -> ModuleType | None:
    # Digest and network enforcement live in their own modules, written alongside this one; until they exist the
    # bearer path still works on its own.
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


_digest: Any = _optional_module("atlas_sa.auth.digest")
_network: Any = _optional_module("atlas_sa.auth.network")


def client_ip(request: Request) -> str:
    """The caller's address: the socket peer, or ``X-Forwarded-For`` as reported by a trusted proxy."""
    if _network is not None:
        address: str = _network.client_ip(request)
        return address
    return request.client.host if request.client is not None else ""


def no_credentials(request: Request) -> Unauthorized:
    """401 ``UNAUTHORIZED`` with a challenge for a request that sent no credential we understand."""
    if _digest is not None:
        return Unauthorized(challenge=_digest.challenge(request))
    return Unauthorized(challenge=_FALLBACK_CHALLENGE)


def invalid_token() -> Unauthorized:
    return Unauthorized(challenge=BEARER_CHALLENGE)


async def authenticate_bearer(request: Request, session: AsyncSession, token: str) -> Principal:
    state = app_state(request)
    credentials = CredentialRepository(session)
    verified = await verify(
        token,
        ring=key_ring(state),
        signing_keys=SigningKeyRepository(session),
        credentials=credentials,
        issuer=state.settings.issuer_url,
        now=state.clock.now(),
    )
    if verified is None:
        raise invalid_token()
    account = verified.account
    return Principal(
        kind="service_account",
        id=account.client_id,
        org_id=account.org_id,
        org_roles=frozenset(account.org_roles),
        project_roles=await credentials.project_roles(account.id),
        client_ip=client_ip(request),
        account_id=account.id,
    )


async def current_principal(request: Request, session: Annotated[AsyncSession, Depends(request_session)]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        principal = await authenticate_bearer(request, session, credentials.strip())
    elif scheme == "digest" and _digest is not None:
        principal = await _digest.authenticate_digest(request, session)
    else:
        raise no_credentials(request)
    if principal.kind == "service_account" and _network is not None:
        await _network.enforce_network_access(request, session, principal)
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
