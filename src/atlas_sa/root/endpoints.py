"""``GET /api/atlas/v2``: getSystemStatus, what the service is and who is asking.

Atlas documents it as returning "details that describe the MongoDB Cloud build and the access token that requests
this resource" and answers 401 without a credential, so it takes one here too, of any role. The answer:

- ``appName`` ``atlas-sa``; ``build``, 40 hex digits naming this release (the SHA-1 of its version string: a running
  server has no git commit to report); ``throttling`` false (Atlas's operator switch; atlas-sa has none, and its
  per-credential rate limits are announced by the ``RateLimit-*`` headers, not by this flag);
- ``ipAddress``, the caller's address as access lists see it (:func:`atlas_sa.kit.addresses.client_ip`);
- ``apiKey`` only for a Digest caller: its id, public key and organization roles. Service accounts get none, as on
  Atlas (Terraform's ``roles_org_id`` and ``project_api_key`` switched from this field to ``GET /orgs`` to support
  service accounts); user accounts, whose ``user`` field this would carry, do not exist here.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from atlas_sa import __version__
from atlas_sa.api_keys.service import api_key_by_public_key
from atlas_sa.identity.caller import Caller
from atlas_sa.kit.addresses import client_ip
from atlas_sa.kit.pages import self_link
from atlas_sa.kit.rendering import ok
from atlas_sa.kit.routing import atlas_router, request_session
from atlas_sa.root.schemas import SystemStatus

ROOT_VERSION = "2023-01-01"
ROOT_PATH = "/api/atlas/v2"
APP_NAME = "atlas-sa"
BUILD = hashlib.sha1(f"{APP_NAME} {__version__}".encode(), usedforsecurity=False).hexdigest()

router = atlas_router(ROOT_VERSION, tags=["Root"])


@router.get(ROOT_PATH, operation_id="getSystemStatus", response_model=SystemStatus)
async def get_system_status(
    request: Request, caller: Caller, session: Annotated[AsyncSession, Depends(request_session)]
) -> Response:
    status: dict[str, Any] = {
        "appName": APP_NAME,
        "build": BUILD,
        "ipAddress": client_ip(request),
        "links": self_link(request, ROOT_PATH),
        "throttling": False,
    }
    if caller.kind == "api_key":
        key = await api_key_by_public_key(session, caller.id)
        if key is not None:
            status["apiKey"] = {
                "id": key.id,
                "publicKey": key.public_key,
                "roles": [{"orgId": key.org_id, "roleName": role} for role in sorted(key.roles)],
            }
    return ok(SystemStatus.model_validate(status))
