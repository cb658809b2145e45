"""Declarative base and portable column types (SQLite and PostgreSQL run the same schema)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, String
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; SQLite would otherwise hand back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class iso_utc(FunctionElement[str]):  # noqa: N801 - a SQL function, named as SQLAlchemy's own (func.count...)
    """A :class:`UTCDateTime` column as the API writes it, computed by the database: ISO 8601 with ``Z``, and
    microseconds only when there are any (what pydantic writes for an aware UTC datetime in JSON mode). NULL stays
    NULL. For list pages, whose hundreds of timestamps otherwise went through a datetime object each, parsed from
    SQLite's text or built by psycopg, then formatted again."""

    type = String()
    inherit_cache = True


@compiles(iso_utc, "sqlite")
def _iso_utc_sqlite(element: iso_utc, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores a SQLite datetime as naive UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff' (process_bind_param): its
    # one space becomes the T. Each SQLite string function allocates; two replaces cost less than splitting and joining
    # (a list page formats four hundred of these).
    column = compiler.process(element.clauses, **kw)
    return f"replace(replace({column}, ' ', 'T'), '.000000', '') || 'Z'"


@compiles(iso_utc, "postgresql")
def _iso_utc_postgresql(element: iso_utc, compiler: SQLCompiler, **kw: Any) -> str:
    # AT TIME ZONE: to_char would otherwise write the session's time zone.
    column = compiler.process(element.clauses, **kw)
    return f"""replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '.000000', '') || 'Z'"""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
