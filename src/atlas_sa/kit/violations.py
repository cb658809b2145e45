"""Pydantic's violations as one Atlas error: the first violation decides the errorCode, every one is listed.

No web framework here: request validation (:mod:`atlas_sa.kit.handlers`, :mod:`atlas_sa.kit.routing`) and the
operator's command line, which checks its options as the API checks a request body, both answer through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from atlas_sa.errors import (
    AtlasError,
    FieldViolation,
    InvalidAttribute,
    InvalidEnumValue,
    InvalidJson,
    InvalidJsonAttribute,
    InvalidQueryParameter,
    MalformedJson,
    MissingAttribute,
)

_TYPE_ERRORS = frozenset(
    {
        "string_type",
        "int_type",
        "int_parsing",
        "int_from_float",
        "float_type",
        "float_parsing",
        "bool_type",
        "bool_parsing",
        "list_type",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "tuple_type",
        "set_type",
        "is_instance_of",
        "none_required",
        "string_unicode",
    }
)
_ENUM_ERRORS = frozenset({"enum", "literal_error"})


def field_path(loc: Sequence[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def validation_to_atlas(errors: Sequence[Any]) -> AtlasError:
    """Map pydantic's violations to one Atlas error: the first violation decides the code, all are listed."""
    fields: list[FieldViolation] = []
    first: AtlasError | None = None
    for error in errors:
        loc = tuple(error.get("loc", ()))
        kind = error.get("type", "")
        where, rest = (loc[0], loc[1:]) if loc else ("body", ())
        name = field_path(rest)
        fields.append(FieldViolation(name or where, str(error.get("msg", kind))))
        if first is not None:
            continue
        if where in ("query", "path", "header", "cookie"):
            first = InvalidQueryParameter(name)
        elif kind == "json_invalid":
            first = MalformedJson()
        elif not name:
            first = MalformedJson() if kind == "missing" else InvalidJson()
        elif kind == "missing":
            first = MissingAttribute(name)
        elif kind == "extra_forbidden":
            first = InvalidAttribute(name)
        elif kind in _TYPE_ERRORS:
            first = InvalidJsonAttribute(name)
        elif kind in _ENUM_ERRORS:
            first = InvalidEnumValue(error.get("input"))
        else:
            first = InvalidAttribute(name)
    first = first or InvalidJson()
    if isinstance(first, MalformedJson | InvalidJson):
        return first
    first.fields = fields
    return first
