"""JSON written by the database (atlas_sa.kit.sqljson) is what the API's writer (orjson) writes, byte for byte, on
both backends: every character a string can hold, arrays of strings stored with and without escapes, objects with
optional members, arrays empty and ordered."""

from __future__ import annotations

import json
from typing import Any

import orjson
from sqlalchemy import JSON, Integer, String, bindparam, literal, select, union_all

from atlas_sa.kit.db import Database
from atlas_sa.kit.sqljson import Json, json_array, json_bool, json_object, json_string, json_strings

# Every code point but the surrogates (and NUL, which PostgreSQL's text cannot hold): JSON escapes each character
# on its own, so one string of all of them shows every escape.
EVERY_CHARACTER = "".join(chr(code) for code in range(1, 0x110000) if not 0xD800 <= code < 0xE000)


async def _one(db: Database, written_json: Json, **values: Any) -> str:
    async with db.unit_of_work(write=False) as session:
        written: str = (await session.execute(select(written_json.sql()), values)).scalar_one()
    return written


async def test_strings_are_escaped_as_the_writer_escapes_them(db: Database) -> None:
    written = await _one(db, json_string(bindparam("text", type_=String)), text=EVERY_CHARACTER)
    assert written == orjson.dumps(EVERY_CHARACTER).decode()


async def test_stored_string_arrays_are_written_again_compactly(db: Database) -> None:
    for strings in (["ORG_OWNER"], ["ORG_MEMBER", "ORG_READ_ONLY"], [], ['é, "q"', EVERY_CHARACTER[:3000]]):
        # Stored through SQLAlchemy's JSON type, by Python's json: ", " between items, everything but ASCII escaped.
        escaped = "\\" in json.dumps(strings)
        assert escaped is (strings[-1:] == [EVERY_CHARACTER[:3000]])
        written = await _one(db, json_strings(bindparam("stored", type_=JSON)), stored=strings)
        assert written == orjson.dumps(strings).decode()


async def test_objects_and_arrays_are_written_as_the_writer_writes_them(db: Database) -> None:
    numbers = union_all(*(select(literal(n, Integer).label("n")) for n in (3, 1, 2))).subquery()
    item = json_object(
        {
            "number": json_string(numbers.c.n.cast(String)),
            "unset": json_string(literal(None, String), nullable=True),
            "odd": json_bool(numbers.c.n != 2),
        },
        optional={"unset"},
    )
    written = await _one(db, json_array(item, numbers.c.n, select().select_from(numbers)))
    expected = [{"number": str(n), "odd": n != 2} for n in (1, 2, 3)]
    assert written == orjson.dumps(expected, option=orjson.OPT_SORT_KEYS).decode()
    empty = select().select_from(numbers).where(numbers.c.n > 3)
    assert await _one(db, json_array(item, numbers.c.n, empty)) == "[]"
