"""The caller of a request, as an endpoint dependency: every ``/api/atlas/v2`` route takes a :data:`Caller`, so every
one of them requires a credential.

Declared here, below the features that take it, and implemented above them: the dependency calls the app's
:class:`Authenticator` (bearer and Digest, :mod:`atlas_sa.auth.dependencies`), which ``create_app`` builds once and
sets as ``app.state.authenticator``. Features thus never import ``auth``, and the layers read one way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Protocol

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.types import Scope

from atlas_sa.identity.principal import Principal
from atlas_sa.identity.roles import Requirement
from atlas_sa.kit.routing import request_session


class Authenticator(Protocol):
    async def __call__(self, request: Request, session: AsyncSession) -> Principal:
        """The request's principal, after its credential, its access list and its rate limit allow the request;
        else raise the Atlas error (401, 403, 429)."""
        ...

    async def admit_cached(
        self, scope: Scope, requirement: Requirement, org_id: str, route: str, params: Mapping[str, str]
    ) -> list[tuple[bytes, bytes]] | None:
        """The same authentication for a fast path (``route`` is the path template it stands in for, ``params`` its
        path parameters), decided from cached state alone: the rate-limit headers to send when the request is
        admitted (none when rate limits are off), ``None`` when the routed path must decide (an unknown or
        expired token, Digest, an access list whose use is counted, a missing role, an empty bucket)."""
        ...


def authenticator(request: Request) -> Authenticator:
    found: Authenticator = request.app.state.authenticator
    return found


async def current_principal(request: Request, session: Annotated[AsyncSession, Depends(request_session)]) -> Principal:
    return await authenticator(request)(request, session)


Caller = Annotated[Principal, Depends(current_principal)]
