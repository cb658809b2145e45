"""What the running app holds for its whole life, built once by :func:`atlas_sa.app.create_app`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from atlas_sa.kit.clock import Clock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.db import Database
from atlas_sa.kit.events import InvalidationBus
from atlas_sa.settings import Settings


@dataclass
class AppState:
    settings: Settings
    db: Database
    clock: Clock
    keys: ServerKeys
    # Cache invalidation in this process and, on PostgreSQL, across instances.
    bus: InvalidationBus = field(init=False)
    # Every API route, for answering 405 with the full ``Allow`` list.
    routes: list[Any] = field(default_factory=list)
    # What refreshes the gauges read from the database before ``/metrics`` is scraped (atlas_sa.kit.metrics).
    scrape_refreshers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bus = InvalidationBus(self.db)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.atlas
    return state
