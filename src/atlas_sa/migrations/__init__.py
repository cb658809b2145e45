"""Alembic migrations; run with ``atlas-sa db upgrade`` (the server also applies them at start)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from atlas_sa.kit.db import create_sqlite_file, parse_database_url, sqlite_file_missing, sync_url

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision under versions/ (a test holds it equal to Alembic's own head). ``atlas-sa serve`` compares the
# database with it before importing Alembic at all: Alembic would stay in the server's memory for nothing, ~13 MB
# of its ~120 MB at rest.
HEAD = "change_log"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config  # noqa: PLC0415 - see HEAD

    config = Config()
    config.set_main_option("script_location", "atlas_sa:migrations")
    parsed = parse_database_url(database_url)
    create_sqlite_file(parsed)
    # Alembic runs synchronously: the same database, through the sync driver.
    url = sync_url(parsed)
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    from alembic import command  # noqa: PLC0415 - see HEAD

    command.upgrade(alembic_config(database_url), revision)


def is_current(database_url: str) -> bool:
    """Whether the database is at :data:`HEAD`; ``False`` too when it cannot be read (the upgrade then reports
    why)."""
    parsed = parse_database_url(database_url)
    if sqlite_file_missing(parsed):
        return False  # and connecting would create the file, with SQLite's mode rather than ours
    engine = create_engine(sync_url(parsed))
    try:
        with engine.connect() as connection:
            versions = list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except DBAPIError:
        return False
    finally:
        engine.dispose()
    return versions == [HEAD]


def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 - only the CLI status path needs it

    parsed = parse_database_url(database_url)
    if sqlite_file_missing(parsed):
        return None
    engine = create_engine(sync_url(parsed))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
