"""JSON written by the database, byte for byte as the API's one JSON writer writes it (:mod:`atlas_sa.kit.rendering`:
orjson, compact, keys sorted), for a response whose items would otherwise each become a dict in Python only to be
serialised again (a list page: docs/performance.md, "Lists").

Built by string concatenation, not by the databases' JSON constructors: PostgreSQL's ``json_build_object`` and
``json_agg`` write ``" : "`` and ``", "`` between members (and ``jsonb`` reorders keys), and SQLite's ``json()``
copies a stored string's escapes as it finds them. Strings are escaped by ``json_quote`` (SQLite) and
``to_json(text)`` (PostgreSQL), which write what orjson writes for every character: ``\\"``, ``\\\\``, the short
escapes ``\\b \\f \\n \\r \\t``, ``\\u00XX`` in lower case for the other control characters, everything else as it is
(tests/kit/test_sqljson.py compares them on every code point below U+0800 and beyond).

Every text here is an inline SQL literal, never a parameter: the statements that use them are compiled once and run
by the driver with only their own values (:func:`atlas_sa.kit.db.fetch_rows`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import reduce
from operator import add
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, String, case, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


def sql_text(value: str) -> ColumnElement[str]:
    """``value`` as an SQL string literal in the statement's text."""
    # A ``%`` would have to be doubled for psycopg's placeholders; nothing written here needs one.
    if "%" in value:
        raise ValueError(f"no '%' in an inline literal: {value!r}")
    return literal_column("'" + value.replace("'", "''") + "'", String)


def concat(*parts: ColumnElement[str]) -> ColumnElement[str]:
    """``a || b || …``: NULL when any part is NULL, on both databases."""
    return reduce(add, parts)


@dataclass(frozen=True, slots=True)
class Json:
    """JSON text as the database will write it: literal text and SQL expressions, concatenated in this order
    (adjacent literals merged: each ``||`` copies the whole string so far)."""

    pieces: tuple[str | ColumnElement[str], ...]

    def sql(self) -> ColumnElement[str]:
        merged: list[str | ColumnElement[str]] = []
        for piece in self.pieces:
            if isinstance(piece, str) and merged and isinstance(merged[-1], str):
                merged[-1] += piece
            elif piece != "":
                merged.append(piece)
        return concat(*(sql_text(piece) if isinstance(piece, str) else piece for piece in merged))


class _quoted(FunctionElement[str]):  # noqa: N801 - a SQL function, named as SQLAlchemy's own (func.count...)
    type = String()
    inherit_cache = True


@compiles(_quoted, "sqlite")
def _quoted_sqlite(element: _quoted, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_quote({compiler.process(element.clauses, **kw)})"


@compiles(_quoted, "postgresql")
def _quoted_postgresql(element: _quoted, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_json(CAST({compiler.process(element.clauses, **kw)} AS TEXT))::text"


def json_string(text: ColumnElement[str] | ColumnElement[str | None], *, nullable: bool = False) -> Json:
    """A text value as a JSON string, quoted and escaped. SQLite's json_quote writes NULL as ``null``: a
    ``nullable`` value is kept NULL (for an optional member of :func:`json_object`) at the cost of one more call."""
    quoted = _quoted(text)
    return Json((func.nullif(quoted, sql_text("null")) if nullable else quoted,))


def json_plain_string(text: ColumnElement[str]) -> Json:
    """A text value that holds no character JSON escapes (digits, letters, ``-:.TZ``: a timestamp written by
    ``iso_utc``), quoted without the escaping function."""
    return Json(('"', text, '"'))


def json_bool(value: ColumnElement[bool]) -> Json:
    """``true`` or ``false`` (SQLite stores booleans as 0 and 1)."""
    return Json((case((value, sql_text("true")), else_=sql_text("false")),))


class _strings(FunctionElement[str]):  # noqa: N801 - as above
    type = String()
    inherit_cache = True


@compiles(_strings, "sqlite")
def _strings_sqlite(element: _strings, compiler: SQLCompiler, **kw: Any) -> str:
    # A stored array without a backslash holds no escapes, only characters as they are, which is how the writer
    # writes them too: json() need only drop the whitespace. Else each element is decoded and quoted again
    # (json_each yields them in their order, its "key" column ascending).
    column = compiler.process(element.clauses, **kw)
    joined = "group_concat(json_quote(value), ',')"
    # S608: the one interpolated piece is the compiled column, never a value.
    requoted = f"(SELECT '[' || coalesce({joined}, '') || ']' FROM json_each({column}))"  # noqa: S608
    return f"CASE WHEN instr({column}, '\\') THEN {requoted} ELSE json({column}) END"


@compiles(_strings, "postgresql")
def _strings_postgresql(element: _strings, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    joined = "string_agg(to_json(role.value)::text, ',' ORDER BY role.n)"
    elements = f"json_array_elements_text({column}) WITH ORDINALITY AS role(value, n)"
    # S608, as above.
    return f"(SELECT '[' || coalesce({joined}, '') || ']' FROM {elements})"  # noqa: S608


def json_strings(array: ColumnElement[Any]) -> Json:
    """A stored JSON array of strings (a ``JSON`` column) written again as the API writes it: compact, each string
    escaped as :func:`json_string` escapes it (whatever escapes the stored text used), in the array's order."""
    return Json((_strings(array),))


class _joined(FunctionElement[str]):  # noqa: N801
    """The aggregate of :func:`json_array`: its items joined by ``,`` in ``key`` order; NULL for none."""

    type = String()
    inherit_cache = True


@compiles(_joined, "sqlite")
def _joined_sqlite(element: _joined, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite before 3.44 has no ORDER BY inside an aggregate: json_array feeds it from a subquery in key order, and
    # SQLite keeps a FROM subquery's ORDER BY when the outer query uses an aggregate other than count, min or max
    # (select.c, the "omit ORDER BY in FROM-clause subqueries" rule, its case 4), so group_concat sees that order.
    item, _key = element.clauses
    return f"group_concat({compiler.process(item, **kw)}, ',')"


@compiles(_joined, "postgresql")
def _joined_postgresql(element: _joined, compiler: SQLCompiler, **kw: Any) -> str:
    item, key = element.clauses
    return f"string_agg({compiler.process(item, **kw)}, ',' ORDER BY {compiler.process(key, **kw)})"


def json_array(item: Json, key: ColumnElement[Any], rows: Select[Any], *, in_key_order: bool = False) -> Json:
    """``[item,item,…]`` over ``rows`` (a SELECT that gives their FROM and WHERE) in ``key`` order; ``[]`` for none.
    A scalar subquery: correlate ``rows`` to the enclosing query's tables as it needs.

    ``in_key_order``: ``rows`` read one subquery that is itself ordered by ``key`` and limited (a page); SQLite keeps
    a limited subquery's ORDER BY and reads it in that order, so ordering its rows again would only sort them twice
    (a tenth of a list page's statement). PostgreSQL's aggregate orders by ``key`` whichever way."""
    items = rows.add_columns(item.sql().label("item"), key.label("key"))
    ordered = (items if in_key_order else items.order_by(key)).subquery()
    joined = func.coalesce(_joined(ordered.c.item, ordered.c.key), sql_text(""))
    return Json((select(Json(("[", joined, "]")).sql()).scalar_subquery(),))


def json_object(members: Mapping[str, Json], *, optional: Collection[str] = ()) -> Json:
    """``{"key":value,…}`` with the keys sorted, as the API's writer sorts them. An ``optional`` member whose
    value is NULL is left out (as the API leaves out absent fields); any other NULL value makes the object NULL."""
    keys = sorted(members)
    if keys[0] in optional:
        raise ValueError("the first member of a JSON object cannot be optional")
    pieces: list[str | ColumnElement[str]] = ["{"]
    for index, key in enumerate(keys):
        member = Json((("," if index else "") + orjson.dumps(key).decode() + ":", *members[key].pieces))
        if key in optional:
            pieces.append(func.coalesce(member.sql(), sql_text("")))
        else:
            pieces += member.pieces
    pieces.append("}")
    return Json(tuple(pieces))
