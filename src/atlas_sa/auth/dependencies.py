"""The caller of a request, as an endpoint dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from atlas_sa.auth.principal import SYSTEM, Principal


async def current_principal(request: Request) -> Principal:
    # Until credentials are enforced every caller acts as the local system; authentication replaces this.
    del request
    return SYSTEM


Caller = Annotated[Principal, Depends(current_principal)]
