"""OAuth 2.0 endpoints: token (RFC 6749 §4.4), revocation (RFC 7009), introspection (RFC 7662), the JWKS that
verifies our tokens, and RFC 8414 authorization-server metadata.

These are not Atlas-versioned routes: they take ``application/x-www-form-urlencoded`` bodies, answer plain
``application/json`` whatever the Accept header says, and report errors in RFC 6749 §5.2 form. Each opens its own
unit of work (the Atlas route wrapper is not involved) and commits before answering. Every failure, including
malformed forms, oversized bodies and undecodable credentials, is an OAuth error body; nothing reaches a 500 short of
the database failing (and that too is an RFC ``server_error`` body).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from atlas_sa.auth.core import AuthCore, auth_core
from atlas_sa.auth.exchange import (
    NO_STORE,
    TOKEN_PATH,
    client_credentials,
    note_caller,
    oauth_answer,
    oauth_json,
    read_form,
    token_exchange,
)
from atlas_sa.auth.repository import CredentialRepository, SigningKeyRepository
from atlas_sa.auth.service import ClientCredentials, InvalidRequest, OAuthService
from atlas_sa.auth.signing import publishable
from atlas_sa.kit.state import AppState, app_state
from atlas_sa.service_accounts.repository import ServiceAccountRepository

REVOKE_PATH = "/api/oauth/revoke"
INTROSPECT_PATH = "/api/oauth/introspect"
JWKS_PATH = "/api/oauth/jwks"
METADATA_PATH = "/.well-known/oauth-authorization-server"
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
__all__ = ["TOKEN_PATH", "OAuthRoute", "router"]


class OAuthRoute(APIRoute):
    """Renders :class:`~atlas_sa.auth.service.OAuthError` (and anything unexpected) as an RFC 6749 §5.2 body
    (:func:`atlas_sa.auth.exchange.oauth_answer`, which the token endpoint's ASGI entry calls too)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = self._direct_handler() or super().get_route_handler()
        path_regex = self.path_regex

        async def handler(request: Request) -> Response:
            return await oauth_answer(request.scope, path_regex, lambda: original(request))

        return handler

    def _direct_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]] | None:
        """The endpoint itself when it takes the request alone (every OAuth endpoint does): FastAPI's request
        handler would solve dependencies and parse query parameters and cookies nobody reads, ~8% of a token
        request's CPU in the profile (docs/performance.md)."""
        if list(inspect.signature(self.endpoint).parameters) != ["request"]:
            return None
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


router = APIRouter(route_class=OAuthRoute, tags=["OAuth 2.0"])


def oauth_service(state: AppState, core: AuthCore, session: Any) -> OAuthService:
    return OAuthService(
        CredentialRepository(session),
        ServiceAccountRepository(session),
        SigningKeyRepository(session),
        core.ring,
        state.keys,
        state.clock,
        state.settings.issuer_url,
    )


@router.post(TOKEN_PATH, operation_id="createAccessToken")
async def create_access_token(request: Request) -> Response:
    """RFC 6749 §4.4: ``grant_type=client_credentials`` → ``{access_token, expires_in, token_type}``
    (:func:`atlas_sa.auth.exchange.token_exchange`, which the token endpoint's ASGI entry calls too)."""
    return await token_exchange(app_state(request), auth_core(request), request.scope, request.receive)


@asynccontextmanager
async def token_request(
    request: Request, *, write: bool
) -> AsyncIterator[tuple[OAuthService, ClientCredentials | None, str]]:
    """A revocation or introspection request: its ``token`` form field and the presented client credentials, with
    the service to answer it, in a unit of work under the brute-force guard of the client's authentication."""
    form = await read_form(request.scope, request.receive)
    token = form.get("token")
    if token is None:
        raise InvalidRequest
    presented = client_credentials(request.scope, form)
    note_caller(request.scope, presented)
    state, core = app_state(request), auth_core(request)
    guarded = core.guard.client_authentication(request.scope, presented)
    async with guarded, state.db.unit_of_work(write=write) as session:
        yield oauth_service(state, core, session), presented, token


@router.post(REVOKE_PATH, operation_id="revokeAccessToken")
async def revoke_access_token(request: Request) -> Response:
    """RFC 7009: 200 with an empty body, for unknown tokens and other clients' tokens too (which stay valid)."""
    async with token_request(request, write=True) as (service, presented, token):
        await service.revoke(presented, token)
    return Response(status_code=200, headers=NO_STORE)


@router.post(INTROSPECT_PATH, operation_id="introspectAccessToken")
async def introspect_access_token(request: Request) -> Response:
    """RFC 7662: ``{"active": false}`` for anything not valid now; the token's claims when it is."""
    async with token_request(request, write=False) as (service, presented, token):
        return oauth_json(await service.introspect(presented, token))


@router.get(JWKS_PATH, operation_id="getJsonWebKeySet")
async def get_json_web_key_set(request: Request) -> Response:
    """The public keys that verify our tokens: the active one and retired ones whose tokens may still be live."""
    state = app_state(request)
    now = state.clock.now()
    async with state.db.unit_of_work(write=False) as session:
        rows = await SigningKeyRepository(session).all()
    if not rows:
        # Publish a key before the first token is minted, so a resource server never caches an empty set.
        async with state.db.unit_of_work(write=True) as session:
            repository = SigningKeyRepository(session)
            await auth_core(request).ring.signing_key(repository, now)
            rows = await repository.all()
    keys = [row.public_jwk for row in rows if publishable(row, now)]
    response = oauth_json({"keys": keys})
    # Resource servers may cache the set briefly; they refetch when they meet an unknown kid.
    response.headers["cache-control"] = "public, max-age=300"
    del response.headers["pragma"]
    return response


@router.get(METADATA_PATH, operation_id="getAuthorizationServerMetadata")
async def get_authorization_server_metadata(request: Request) -> Response:
    """RFC 8414 §2 metadata. Only the client-credentials grant exists, so there is no authorization endpoint and
    ``response_types_supported`` is empty."""
    issuer = app_state(request).settings.issuer_url
    # ``issuer`` is exactly the tokens' ``iss``; the endpoints hang below it, without a doubled slash.
    base = issuer.rstrip("/")
    response = oauth_json(
        {
            "issuer": issuer,
            "token_endpoint": base + TOKEN_PATH,
            "jwks_uri": base + JWKS_PATH,
            "revocation_endpoint": base + REVOKE_PATH,
            "introspection_endpoint": base + INTROSPECT_PATH,
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        }
    )
    response.headers["cache-control"] = "public, max-age=3600"
    del response.headers["pragma"]
    return response
