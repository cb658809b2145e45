"""The tests' settings: one master key, and what a test module changes."""

from __future__ import annotations

from typing import Any

from atlas_sa.settings import Settings

MASTER_KEY = "test-master-key-0123456789abcdef"


def settings_on(database_url: str, **changes: Any) -> Settings:
    """The settings of an app under test on ``database_url``, with ``changes``."""
    return Settings(database_url=database_url, secret_key=MASTER_KEY, **changes)
