"""The floor of a token request on one core: a raw ASGI app that parses HTTP Basic and the form, checks one HMAC and
signs one ES256 JWT, and nothing else (no database, no guard, no metrics). ``bench/token_cpu.py`` runs it on
uvicorn (httptools) and on granian, to tell the server's share of a token's CPU from the app's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_KEY = ec.generate_private_key(ec.SECP256R1())
_HMAC_KEY = b"floor" * 8
_STORED = hmac.new(_HMAC_KEY, b"floor-secret", hashlib.sha256).hexdigest()
_HEADER = base64.urlsafe_b64encode(b'{"alg":"ES256","kid":"floor","typ":"JWT"}').rstrip(b"=")
_ECDSA = ec.ECDSA(hashes.SHA256())


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _sign(claims: dict[str, Any]) -> bytes:
    signing_input = _HEADER + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
    r, s = decode_dss_signature(_KEY.sign(signing_input, _ECDSA))
    return signing_input + b"." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
    client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
    form = dict(pair.split("=", 1) for pair in body.decode().split("&"))
    presented = hmac.new(_HMAC_KEY, secret.encode(), hashlib.sha256).hexdigest()
    if form.get("grant_type") != "client_credentials" or not hmac.compare_digest(presented, _STORED):
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        return
    now = int(time.time())
    claims = {
        "iss": "x",
        "aud": "api://admin",
        "sub": client_id,
        "iat": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
    }
    token = _sign(claims)
    payload = b'{"access_token":"' + token + b'","expires_in":3600,"token_type":"Bearer"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": payload})
