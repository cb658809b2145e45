"""Apps with small, explicit limits; clients from a chosen address are the `connect` fixture (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from atlas_sa.app import create_app
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from tests.support.settings import settings_on

SMALL_LIMITS: dict[str, Any] = {
    "rate_limit_org_service_accounts": "5/5/60",
    "rate_limit_project_service_accounts": "7/7/60",
    "rate_limit_org_settings": "3/3/60",
    "rate_limit_default": "20/20/60",
    "rate_limit_token": "50/50/60",
    "auth_failures_per_client_address": 10,
    "auth_failures_per_address": 30,
    "auth_failures_per_client": 20,
    "auth_lockout_seconds": 900,
    "auth_failures_before_delay": 3,
    "auth_failure_delay_seconds": 0.2,
}

AppFactory = Callable[..., FastAPI]


@pytest.fixture
def make_app(database_url: str, clock: FrozenClock, db: Database) -> AppFactory:
    """An app on the test's database with :data:`SMALL_LIMITS`, overridden by keyword."""

    def make(**overrides: Any) -> FastAPI:
        settings = settings_on(database_url, **{**SMALL_LIMITS, **overrides})
        return create_app(settings, clock=clock, database=db)

    return make
