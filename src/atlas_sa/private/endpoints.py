"""HTTP endpoints of Atlas's private API that the official clients call besides the Administration API.

- ``GET /api/private/ipinfo``: the caller's address, ``{"currentIpv4Address": …}``. The Atlas CLI asks for it
  (``--currentIp``, with its authenticated store) and the MCP server too (with its bearer token), so it needs a
  credential here as on Atlas; the address is the one access lists judge (:func:`atlas_sa.kit.addresses.client_ip`:
  the socket peer, or what trusted proxies report).
- ``POST /api/private/v1.0/telemetry/events`` (credential required; the MCP server falls back to the unauthenticated
  endpoint on a 401) and ``POST /api/private/unauth/telemetry/events`` (none): accepted and discarded. Both clients
  send a JSON array and only check for a 2xx (the CLI's ``CheckResponse`` takes 200 to 299, the MCP server
  ``response.ok``) without reading the body; the MCP server's own tests model Atlas's answer as a 200 with no body,
  which is what these send. The body is read to its end, chunk by chunk, so the server's body limit (413) and body
  timeout (408) apply, and is neither parsed, stored nor logged.

The routes are unversioned (any Accept), with Atlas error bodies, and left out of the OpenAPI document: they are not
part of the Administration API.
"""

from __future__ import annotations

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from atlas_sa.identity.caller import current_principal
from atlas_sa.kit.addresses import client_ip
from atlas_sa.kit.rendering import ok
from atlas_sa.kit.routing import atlas_router
from atlas_sa.private.schemas import IpInfo

router = atlas_router(prefix="/api/private", include_in_schema=False)
AUTHENTICATED = [Depends(current_principal)]


@router.get("/ipinfo", dependencies=AUTHENTICATED)
async def get_ip_info(request: Request) -> Response:
    return ok(IpInfo.model_validate({"currentIpv4Address": client_ip(request)}))


async def discard(request: Request) -> Response:
    """Read the body to its end without keeping it, then answer 200 with no body."""
    async for _chunk in request.stream():
        pass
    return Response(status_code=200)


@router.post("/v1.0/telemetry/events", dependencies=AUTHENTICATED)
async def send_telemetry_events(request: Request) -> Response:
    return await discard(request)


@router.post("/unauth/telemetry/events")
async def send_unauth_telemetry_events(request: Request) -> Response:
    return await discard(request)
