"""Alembic migrations; run with ``atlas-sa db upgrade`` (the server also applies them at start)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from atlas_sa.kit.db import parse_database_url, sync_url


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "atlas_sa:migrations")
    # Alembic runs synchronously: the same database, through the sync driver.
    url = sync_url(parse_database_url(database_url))
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 - only the CLI status path needs it

    url = sync_url(parse_database_url(database_url))
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
