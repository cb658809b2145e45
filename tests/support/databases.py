"""Test databases: one SQLite file and one fresh PostgreSQL database per test run, built with Alembic.

PostgreSQL is the one on 127.0.0.1:5432 (trust auth), or ``ATLAS_SA_TEST_POSTGRES_URL``. Each run creates its own
database there and drops it at the end, so concurrent runs never see each other's rows. Under ``CI`` an unreachable
PostgreSQL fails the run; locally its tests are skipped, and the run says so loudly.
"""

from __future__ import annotations

import os
import secrets

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("ATLAS_SA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _conninfo(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_available() -> str | None:
    """``None`` when PostgreSQL answers, else the reason it does not."""
    try:
        with psycopg.connect(_conninfo(ADMIN_URL), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def create_postgres_database() -> str:
    name = f"atlas_sa_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(_conninfo(ADMIN_URL), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_conninfo(ADMIN_URL), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
