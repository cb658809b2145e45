"""Wires the application: middleware, error handlers, routers. No logic lives here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from fastapi.telemetry import TelemetryConfig
from opentelemetry.trace import TracerProvider
from starlette.types import ASGIApp

from atlas_sa import __version__, health
from atlas_sa.access_lists import endpoints as access_lists
from atlas_sa.auth import endpoints as oauth
from atlas_sa.auth.core import AuthCore, build_auth_core
from atlas_sa.auth.dependencies import RequestAuthenticator
from atlas_sa.auth.fastpath import TokenEntry
from atlas_sa.changes import follow
from atlas_sa.events import endpoints as events
from atlas_sa.events.expiry import start_event_watch
from atlas_sa.identity.caller import Authenticator
from atlas_sa.kit.bodies import BodyLimitMiddleware
from atlas_sa.kit.clock import Clock, SystemClock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.db import Database
from atlas_sa.kit.fastpath import FastPathMiddleware
from atlas_sa.kit.handlers import UnexpectedErrorMiddleware, install_error_handlers
from atlas_sa.kit.metrics import DB_POOL_IN_USE, SECRETS_EXPIRING, on_scrape
from atlas_sa.kit.negotiation import FormatMiddleware
from atlas_sa.kit.observe import MetricsEndpoint, RequestObserver
from atlas_sa.kit.state import AppState
from atlas_sa.onboarding import endpoints as onboarding
from atlas_sa.org_settings import endpoints as org_settings
from atlas_sa.orgs import endpoints as orgs
from atlas_sa.private import endpoints as private
from atlas_sa.projects import endpoints as projects
from atlas_sa.root import endpoints as root
from atlas_sa.service_accounts import endpoints as service_accounts
from atlas_sa.service_accounts.fastlist import list_route
from atlas_sa.service_accounts.fastpath import read_route
from atlas_sa.service_accounts.repository import ServiceAccountRepository
from atlas_sa.service_accounts.views import ViewCache
from atlas_sa.settings import Settings

_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _telemetry(settings: Settings, tracer_provider: TracerProvider | None) -> TelemetryConfig:
    """FastAPI's OpenTelemetry: off, or request spans and metrics exported as the ``OTEL_*`` variables say. Its
    log records stay off: they carry exception messages and tracebacks, which our logs never do (a message can
    hold what a client sent)."""
    if not settings.opentelemetry:
        return _NO_TELEMETRY
    config: TelemetryConfig = {"logs": False, "auto_configure": True}
    if tracer_provider is not None:
        config["tracer_provider"] = tracer_provider
    return config


class AtlasApp(FastAPI):
    """FastAPI with :class:`RequestObserver` and :class:`MetricsEndpoint` outside Starlette's error middleware,
    so that every response, a 500 included, carries its request id and is counted; and, inside them, the token
    endpoint's own pipeline (:class:`~atlas_sa.auth.fastpath.TokenEntry`) ahead of the whole FastAPI stack."""

    observed: tuple[AppState, AuthCore, bool] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        assert self.observed is not None
        state, core, access_log = self.observed
        settings = state.settings
        if settings.fast_paths and not settings.opentelemetry:
            # With OpenTelemetry on, token requests take the route, whose spans FastAPI makes.
            stack = TokenEntry(stack, state, core)
        return RequestObserver(MetricsEndpoint(stack, state, settings.metrics_port), access_log_enabled=access_log)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    keys: ServerKeys | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """The application. ``atlas-sa serve`` passes the ``keys`` it checked against the database
    (:mod:`atlas_sa.auth.masterkey`); without them the configured key, or an existing development key file, is used."""
    settings = settings or Settings()
    db = database or Database(settings.database_url, pool_size=settings.db_pool_size)
    keys = keys or ServerKeys.from_settings(settings)
    state = AppState(settings=settings, db=db, clock=clock or SystemClock(), keys=keys)
    # Built here, once, before any request: every request meets the same key ring, caches, buckets and batchers,
    # and the lockouts are subscribed to the invalidation bus before its listener starts.
    core = build_auth_core(state)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await state.bus.start()
        watch = start_event_watch(state)
        try:
            yield
        finally:
            if watch is not None:
                watch.cancel()
                with suppress(asyncio.CancelledError):
                    await watch
            await core.close()
            await state.bus.stop()
            if database is None:
                await db.dispose()

    app = AtlasApp(
        title="atlas-sa: MongoDB Atlas Administration API v2, Service Accounts",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=_telemetry(settings, tracer_provider),
    )
    app.state.atlas = state
    # The OAuth endpoints read it here (atlas_sa.auth.core.auth_core).
    app.state.auth = core
    # What ``identity.caller.Caller`` calls: features declare the dependency, auth implements it.
    authenticator: Authenticator = RequestAuthenticator(state, core)
    app.state.authenticator = authenticator
    # The service-account views the read fast path serves, dropped when their account changes (atlas_sa.changes).
    views = ViewCache()
    follow(state.bus, views)
    app.state.views = views
    app.observed = (state, core, settings.access_log)
    install_error_handlers(app)
    _scraped_gauges(state)
    # Starlette runs the middleware added last outermost: the format is known before a 413 is rendered, and the fast
    # paths run inside both, so format, security headers and body limits apply to them too.
    if settings.fast_paths:
        read = read_route(
            (service_accounts.SA_VERSION,),
            _template(service_accounts.router, "getOrgServiceAccount"),
            views,
            authenticator,
        )
        listing = list_route(
            (service_accounts.SA_VERSION,),
            _template(service_accounts.router, "listOrgServiceAccounts"),
            authenticator,
            db,
        )
        app.add_middleware(FastPathMiddleware, routes=[read, listing], tracing=settings.opentelemetry)
    app.add_middleware(
        BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes, body_timeout=settings.request_timeout
    )
    # Inside the format middleware, so an unexpected error's 500 honours envelope/pretty and carries its headers.
    app.add_middleware(UnexpectedErrorMiddleware)
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
        events.router,
    ):
        app.include_router(router)
        state.routes.extend(router.routes)
    return app


def _template(router: APIRouter, operation_id: str) -> str:
    """The template of the route with this operation id, as the router reports it (a fast path labels its
    answers with it)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.operation_id == operation_id:
            return route.path_format
    raise LookupError(operation_id)


def _scraped_gauges(state: AppState) -> None:
    """The gauges read when ``/metrics`` is scraped: connections in use, secrets about to expire."""

    async def pool() -> None:
        for name, in_use in state.db.connections_in_use().items():
            DB_POOL_IN_USE.labels(name).set(in_use)

    async def expiring() -> None:
        now = state.clock.now()
        until = now + timedelta(days=state.settings.secret_expiry_warning_days)
        async with state.db.unit_of_work(write=False) as session:
            SECRETS_EXPIRING.set(await ServiceAccountRepository(session).count_secrets_expiring(now, until))

    on_scrape(state, pool)
    on_scrape(state, expiring)
