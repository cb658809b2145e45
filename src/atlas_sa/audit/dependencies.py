"""The request's :class:`~atlas_sa.audit.recording.EventRecorder`, for the service factories of every feature."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from atlas_sa.audit.recording import Actor, EventRecorder
from atlas_sa.identity.caller import Caller
from atlas_sa.kit.observe import REQUEST_ID
from atlas_sa.kit.routing import request_session
from atlas_sa.kit.state import app_state


async def request_recorder(
    request: Request, caller: Caller, session: Annotated[AsyncSession, Depends(request_session)]
) -> EventRecorder:
    """Events of this request: its unit of work, its caller as the actor, its ``X-Request-Id`` (assigned by
    :mod:`atlas_sa.kit.observe`), which each event records."""
    request_id = request.scope.get(REQUEST_ID)
    actor = Actor.of(caller, request_id=request_id if isinstance(request_id, str) else None)
    return EventRecorder(session, app_state(request).clock, actor)


Recorder = Annotated[EventRecorder, Depends(request_recorder)]
