"""Wires the application: middleware, error handlers, routers. No logic lives here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from atlas_sa import __version__, health
from atlas_sa.access_lists import endpoints as access_lists
from atlas_sa.auth import endpoints as oauth
from atlas_sa.auth.dependencies import authenticate
from atlas_sa.auth.fastpath import token_route
from atlas_sa.identity.caller import Authenticator
from atlas_sa.kit.bodies import BodyLimitMiddleware
from atlas_sa.kit.clock import Clock, SystemClock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.db import Database
from atlas_sa.kit.fastpath import FastPathMiddleware
from atlas_sa.kit.handlers import install_error_handlers
from atlas_sa.kit.negotiation import FormatMiddleware
from atlas_sa.kit.state import AppState
from atlas_sa.onboarding import endpoints as onboarding
from atlas_sa.org_settings import endpoints as org_settings
from atlas_sa.orgs import endpoints as orgs
from atlas_sa.private import endpoints as private
from atlas_sa.projects import endpoints as projects
from atlas_sa.root import endpoints as root
from atlas_sa.service_accounts import endpoints as service_accounts
from atlas_sa.service_accounts.fastpath import read_route
from atlas_sa.settings import Settings

_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    keys: ServerKeys | None = None,
) -> FastAPI:
    """The application. ``atlas-sa serve`` passes the ``keys`` it checked against the database
    (:mod:`atlas_sa.auth.masterkey`); without them the configured key, or an existing development key file, is used."""
    settings = settings or Settings()
    db = database or Database(settings.database_url, pool_size=settings.db_pool_size)
    keys = keys or ServerKeys.from_settings(settings)
    state = AppState(settings=settings, db=db, clock=clock or SystemClock(), keys=keys)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await state.bus.start()
        try:
            yield
        finally:
            await state.bus.stop()
            if database is None:
                await db.dispose()

    app = FastAPI(
        title="atlas-sa: MongoDB Atlas Administration API v2, Service Accounts",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    app.state.atlas = state
    # What ``identity.caller.Caller`` calls: features declare the dependency, auth implements it.
    authenticator: Authenticator = authenticate
    app.state.authenticator = authenticator
    install_error_handlers(app)
    # Starlette runs the middleware added last outermost: the format is known before a 413 is rendered, and the fast
    # paths run inside both, so format, security headers and body limits apply to them too.
    if settings.fast_paths:
        app.add_middleware(
            FastPathMiddleware, routes=[token_route(), read_route(state, (service_accounts.SA_VERSION,))]
        )
    app.add_middleware(
        BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes, body_timeout=settings.request_timeout
    )
    app.add_middleware(FormatMiddleware)
    for router in (
        health.router,
        oauth.router,
        orgs.router,
        onboarding.router,
        org_settings.router,
        projects.router,
        service_accounts.router,
        access_lists.router,
        root.router,
        private.router,
    ):
        app.include_router(router)
        state.routes.extend(router.routes)
    return app
