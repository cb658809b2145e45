"""The OAuth endpoints' request and answer, written once for both ways in: the routed endpoints
(:mod:`atlas_sa.auth.endpoints`) and the token endpoint's pure-ASGI entry (:mod:`atlas_sa.auth.fastpath`).

Everything here takes the ASGI ``scope`` and ``receive`` rather than a Starlette ``Request``, so the entry that runs
ahead of the FastAPI stack calls exactly what the route calls: reading the form (RFC 6749 §3.2, urlencoded), the
client's credentials (§2.3.1, Basic or form), the client-credentials grant (§4.4) with its brute-force guard and rate
limit, and the RFC 6749 §5.2 error answers.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope

from atlas_sa.auth import minting
from atlas_sa.auth.bruteforce import TokenLockedOut
from atlas_sa.auth.core import AuthCore
from atlas_sa.auth.ratelimits import TokenRateLimited
from atlas_sa.auth.service import (
    ClientCredentials,
    InvalidClient,
    InvalidRequest,
    IssuedToken,
    OAuthError,
    ServerError,
    UnsupportedGrantType,
)
from atlas_sa.errors import AtlasError
from atlas_sa.kit.fastpath import header
from atlas_sa.kit.ids import is_client_id
from atlas_sa.kit.metrics import TOKENS_ISSUED, TOKENS_REFUSED
from atlas_sa.kit.observe import CALLER
from atlas_sa.kit.rendering import dumps
from atlas_sa.kit.routing import RATE_LIMIT_HEADERS
from atlas_sa.kit.state import AppState
from atlas_sa.kit.text import admissible, bad_url_parameter

log = logging.getLogger("atlas_sa.auth")

TOKEN_PATH = "/api/oauth/token"  # noqa: S105 - a URL path

# A token request is a few hundred bytes; a larger form is refused before it is parsed.
MAX_FORM_BYTES = 8192
_MAX_FORM_FIELDS = 16
_FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# Checked as credentials, not as text: one that is not admissible text matches nothing, so it fails as a wrong one
# (``invalid_client``, counted by the brute-force guard) rather than as a malformed request.
_CREDENTIAL_FIELDS = frozenset({"client_id", "client_secret"})
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_json(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(dumps(payload), status_code=status, headers={**NO_STORE, **(headers or {})})
    response.headers["content-type"] = "application/json"
    return response


def error_response(error: OAuthError) -> Response:
    return oauth_json(error.body(), error.status, error.headers())


def with_rate_headers(scope: Scope, response: Response) -> Response:
    """Copy the request's rate-limit headers, if any, onto its response."""
    headers = scope.get(RATE_LIMIT_HEADERS)
    if headers:
        response.headers.update(headers)
    return response


async def oauth_answer(
    scope: Scope, path_regex: re.Pattern[str], endpoint: Callable[[], Awaitable[Response]]
) -> Response:
    """``endpoint``'s answer, or its error as an RFC 6749 §5.2 body; what the application renders instead (413 and
    408 from the body limits, 429 from the rate limit, a client gone mid-body) propagates."""
    if bad_url_parameter(scope, path_regex) is not None:
        # A URL holding what is not admissible text (atlas_sa.kit.text): malformed, RFC 6749 §5.2.
        return error_response(InvalidRequest())
    try:
        return with_rate_headers(scope, await endpoint())
    except OAuthError as error:
        return with_rate_headers(scope, error_response(error))
    except (HTTPException, AtlasError, ClientDisconnect):
        # 413 from the body-size limit (and its kin), 429 from the throttle: the application renders those; a
        # client gone mid-body is no fault of ours, and the body limit ends its request quietly.
        raise
    except Exception as exc:  # noqa: BLE001 - the OAuth contract promises an RFC body even for our own faults
        # The path and the exception's type only: a form may hold a secret.
        log.error(  # noqa: TRY400 - no traceback: its locals could hold a secret
            "unexpected error on %s %s: %s", scope["method"], scope["path"], type(exc).__name__
        )
        return error_response(ServerError())


async def read_form(scope: Scope, receive: Receive) -> dict[str, str]:
    """The urlencoded body as a dict; ``invalid_request`` for another media type, an oversized or undecodable
    body, a repeated parameter (RFC 6749 §3.2: parameters MUST NOT be included more than once), or a name or value
    (credentials aside) that is not admissible text (:mod:`atlas_sa.kit.text`)."""
    media_type = (header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    if media_type != _FORM_MEDIA_TYPE:
        raise InvalidRequest
    declared = header(scope, b"content-length") or "0"
    if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        raise InvalidRequest
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            raise InvalidRequest
        if not message.get("more_body", False):
            break
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


def _basic_credentials(authorization: str) -> ClientCredentials:
    scheme, _, value = authorization.strip().partition(" ")
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


def client_credentials(scope: Scope, form: dict[str, str]) -> ClientCredentials | None:
    """HTTP Basic or form ``client_id``/``client_secret``; both at once is ``invalid_request`` (RFC 6749 §2.3:
    a client MUST NOT use more than one authentication method per request). ``None`` when none was sent."""
    authorization = header(scope, b"authorization")
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if authorization:
        if form_id is not None or form_secret is not None:
            raise InvalidRequest
        return _basic_credentials(authorization)
    if form_id is None and form_secret is None:
        return None
    if form_id is None or form_secret is None:
        raise InvalidRequest
    return ClientCredentials(form_id, form_secret)


def note_caller(scope: Scope, presented: ClientCredentials | None) -> None:
    """The client id the request claims, for its access-log line: only if it has a client id's shape (a secret
    sent in its place is not written, :func:`atlas_sa.auth.failures.claimed`)."""
    if presented is not None and is_client_id(presented.client_id):
        scope[CALLER] = presented.client_id


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
    return "server_error"  # rendered as such by oauth_answer


async def token_exchange(state: AppState, core: AuthCore, scope: Scope, receive: Receive) -> Response:
    """RFC 6749 §4.4: ``grant_type=client_credentials`` → ``{access_token, expires_in, token_type}``."""
    try:
        issued = await _client_credentials_grant(state, core, scope, receive)
    except Exception as exc:
        TOKENS_REFUSED[refusal_reason(exc)].inc()
        raise
    TOKENS_ISSUED.inc()
    return oauth_json(
        {"access_token": issued.access_token, "expires_in": issued.expires_in, "token_type": issued.token_type}
    )


async def _client_credentials_grant(state: AppState, core: AuthCore, scope: Scope, receive: Receive) -> IssuedToken:
    form = await read_form(scope, receive)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest
    if grant_type != "client_credentials":
        raise UnsupportedGrantType
    presented = client_credentials(scope, form)
    note_caller(scope, presented)
    async with core.guard.client_authentication(scope, presented):
        # The lean path: client cache + group commit (atlas_sa.auth.minting).
        account_id, client_id, secret_id = await minting.authenticate_cached(state, core.caches, presented)
    await core.limits.limit_token(scope, client_id)
    # Committed before this returns.
    return await minting.issue_token(state, core.mints, account_id, client_id, secret_id)
