"""OAuth 2.0 endpoints: token (RFC 6749 §4.4), revocation (RFC 7009), introspection (RFC 7662), the JWKS that
verifies our tokens, and RFC 8414 authorization-server metadata.

These are not Atlas-versioned routes: they take ``application/x-www-form-urlencoded`` bodies, answer plain
``application/json`` whatever the Accept header says, and report errors in RFC 6749 §5.2 form. Each opens its own
unit of work (the Atlas route wrapper is not involved) and commits before answering. Every failure, including
malformed forms, oversized bodies and undecodable credentials, is an OAuth error body; nothing reaches a 500 short of
the database failing (and that too is an RFC ``server_error`` body).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from atlas_sa.auth import minting
from atlas_sa.auth.bruteforce import TokenLockedOut
from atlas_sa.auth.core import AuthCore, auth_core
from atlas_sa.auth.ratelimits import TokenRateLimited, with_rate_headers
from atlas_sa.auth.repository import CredentialRepository, SigningKeyRepository
from atlas_sa.auth.service import (
    ClientCredentials,
    InvalidClient,
    InvalidRequest,
    IssuedToken,
    OAuthError,
    OAuthService,
    ServerError,
    UnsupportedGrantType,
)
from atlas_sa.auth.signing import publishable
from atlas_sa.errors import AtlasError
from atlas_sa.kit.ids import is_client_id
from atlas_sa.kit.metrics import TOKENS_ISSUED, TOKENS_REFUSED
from atlas_sa.kit.observe import CALLER
from atlas_sa.kit.rendering import dumps
from atlas_sa.kit.state import AppState, app_state
from atlas_sa.kit.text import admissible, bad_url_parameter
from atlas_sa.service_accounts.repository import ServiceAccountRepository

log = logging.getLogger("atlas_sa.auth")

TOKEN_PATH = "/api/oauth/token"  # noqa: S105 - a URL path
REVOKE_PATH = "/api/oauth/revoke"
INTROSPECT_PATH = "/api/oauth/introspect"
JWKS_PATH = "/api/oauth/jwks"
METADATA_PATH = "/.well-known/oauth-authorization-server"
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

# A token request is a few hundred bytes; a larger form is refused before it is parsed.
MAX_FORM_BYTES = 8192
_MAX_FORM_FIELDS = 16
_FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# Checked as credentials, not as text: one that is not admissible text matches nothing, so it fails as a wrong one
# (``invalid_client``, counted by the brute-force guard) rather than as a malformed request.
_CREDENTIAL_FIELDS = frozenset({"client_id", "client_secret"})
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_json(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(dumps(payload), status_code=status, headers={**_NO_STORE, **(headers or {})})
    response.headers["content-type"] = "application/json"
    return response


def error_response(error: OAuthError) -> Response:
    return oauth_json(error.body(), error.status, error.headers())


class OAuthRoute(APIRoute):
    """Renders :class:`OAuthError` (and anything unexpected) as an RFC 6749 §5.2 body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = self._direct_handler() or super().get_route_handler()
        path_regex = self.path_regex

        async def handler(request: Request) -> Response:
            if bad_url_parameter(request.scope, path_regex) is not None:
                # A URL holding what is not admissible text (atlas_sa.kit.text): malformed, RFC 6749 §5.2.
                return error_response(InvalidRequest())
            try:
                return with_rate_headers(request, await original(request))
            except OAuthError as error:
                return with_rate_headers(request, error_response(error))
            except (HTTPException, AtlasError, ClientDisconnect):
                # 413 from the body-size limit (and its kin), 429 from the throttle: the application renders those;
                # a client gone mid-body is no fault of ours, and the body limit ends its request quietly.
                raise
            except Exception as exc:  # noqa: BLE001 - the OAuth contract promises an RFC body even for our own faults
                # The path and the exception's type only: a form may hold a secret.
                log.error(  # noqa: TRY400 - no traceback: its locals could hold a secret
                    "unexpected error on %s %s: %s", request.method, request.url.path, type(exc).__name__
                )
                return error_response(ServerError())

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


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded body as a dict; ``invalid_request`` for another media type, an oversized or undecodable
    body, a repeated parameter (RFC 6749 §3.2: parameters MUST NOT be included more than once), or a name or value
    (credentials aside) that is not admissible text (:mod:`atlas_sa.kit.text`)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != _FORM_MEDIA_TYPE:
        raise InvalidRequest
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        raise InvalidRequest
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidRequest
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS, errors="strict"
        )
    except ValueError:  # UnicodeDecodeError included: not UTF-8, or too many fields
        raise InvalidRequest from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form or not admissible(name) or (name not in _CREDENTIAL_FIELDS and not admissible(value)):
            raise InvalidRequest
        form[name] = value
    return form


def _basic_credentials(header: str) -> ClientCredentials:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        # Another authentication method than the two we support (RFC 6749 §5.2 invalid_client).
        raise InvalidClient
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise InvalidRequest
        # RFC 6749 §2.3.1: both halves are form-urlencoded before Basic encoding (the Go SDK does so).
        return ClientCredentials(unquote_plus(client_id, errors="strict"), unquote_plus(secret, errors="strict"))
    except (binascii.Error, ValueError):
        raise InvalidRequest from None


def client_credentials(request: Request, form: dict[str, str]) -> ClientCredentials | None:
    """HTTP Basic or form ``client_id``/``client_secret``; both at once is ``invalid_request`` (RFC 6749 §2.3:
    a client MUST NOT use more than one authentication method per request). ``None`` when none was sent."""
    header = request.headers.get("authorization")
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if header:
        if form_id is not None or form_secret is not None:
            raise InvalidRequest
        return _basic_credentials(header)
    if form_id is None and form_secret is None:
        return None
    if form_id is None or form_secret is None:
        raise InvalidRequest
    return ClientCredentials(form_id, form_secret)


def note_caller(request: Request, presented: ClientCredentials | None) -> None:
    """The client id the request claims, for its access-log line: only if it has a client id's shape (a secret
    sent in its place is not written, :func:`atlas_sa.auth.failures.claimed`)."""
    if presented is not None and is_client_id(presented.client_id):
        request.scope[CALLER] = presented.client_id


def refusal_reason(exc: Exception) -> str:
    """The ``atlas_sa_tokens_refused_total`` reason of a refused token request."""
    if isinstance(exc, OAuthError):
        return exc.error
    if isinstance(exc, TokenLockedOut):
        return "locked_out"
    if isinstance(exc, TokenRateLimited):
        return "rate_limited"
    if isinstance(exc, HTTPException | AtlasError):
        return "other"  # 408 or 413 while reading the body
    return "server_error"  # rendered as such by OAuthRoute


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
    """RFC 6749 §4.4: ``grant_type=client_credentials`` → ``{access_token, expires_in, token_type}``."""
    try:
        issued = await _client_credentials_grant(request)
    except Exception as exc:
        TOKENS_REFUSED[refusal_reason(exc)].inc()
        raise
    TOKENS_ISSUED.inc()
    return oauth_json(
        {"access_token": issued.access_token, "expires_in": issued.expires_in, "token_type": issued.token_type}
    )


async def _client_credentials_grant(request: Request) -> IssuedToken:
    form = await read_form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest
    if grant_type != "client_credentials":
        raise UnsupportedGrantType
    presented = client_credentials(request, form)
    note_caller(request, presented)
    state, core = app_state(request), auth_core(request)
    async with core.guard.client_authentication(request, presented):
        # The lean path: client cache + group commit (atlas_sa.auth.minting).
        account_id, client_id, secret_id = await minting.authenticate_cached(state, core.caches, presented)
    await core.limits.limit_token(request, client_id)
    # Committed before this returns.
    return await minting.issue_token(state, core.mints, account_id, client_id, secret_id)


async def token_request(request: Request) -> tuple[str, ClientCredentials | None]:
    """The ``token`` form field and the presented client credentials of a revocation or introspection request."""
    form = await read_form(request)
    token = form.get("token")
    if token is None:
        raise InvalidRequest
    return token, client_credentials(request, form)


@router.post(REVOKE_PATH, operation_id="revokeAccessToken")
async def revoke_access_token(request: Request) -> Response:
    """RFC 7009: 200 with an empty body, for unknown tokens and other clients' tokens too (which stay valid)."""
    token, presented = await token_request(request)
    note_caller(request, presented)
    state, core = app_state(request), auth_core(request)
    async with core.guard.client_authentication(request, presented), state.db.unit_of_work(write=True) as session:
        await oauth_service(state, core, session).revoke(presented, token)
    return Response(status_code=200, headers=_NO_STORE)


@router.post(INTROSPECT_PATH, operation_id="introspectAccessToken")
async def introspect_access_token(request: Request) -> Response:
    """RFC 7662: ``{"active": false}`` for anything not valid now; the token's claims when it is."""
    token, presented = await token_request(request)
    note_caller(request, presented)
    state, core = app_state(request), auth_core(request)
    async with core.guard.client_authentication(request, presented), state.db.unit_of_work(write=False) as session:
        return oauth_json(await oauth_service(state, core, session).introspect(presented, token))


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
