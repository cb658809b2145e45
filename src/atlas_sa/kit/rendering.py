"""The only JSON writer of the API: envelope, pretty, media type and key order, for successes and errors alike.

Atlas writes compact JSON with keys in alphabetical order, and 2-space indented JSON when ``pretty=true``. With
``envelope=true`` the HTTP status is unchanged; a single object becomes ``{"status": N, "content": {...}}`` and a
list object gains ``"status": N`` (decisions table).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response

from atlas_sa.errors import AtlasError
from atlas_sa.kit.negotiation import RequestFormat, current_format, vendor_media_type

ERROR_MEDIA_TYPE = "application/json"


def json_text(text: str) -> orjson.Fragment:
    """JSON written elsewhere, already as this writer writes it (a list page's results, written by the database:
    :mod:`atlas_sa.kit.sqljson`), spliced into a response unparsed. Only as a member of the top-level object."""
    return orjson.Fragment(text)


def _splices(data: Any) -> bool:
    return isinstance(data, dict) and any(isinstance(value, orjson.Fragment) for value in data.values())


def dumps(data: Any, *, pretty: bool = False) -> bytes:
    if pretty and _splices(data):
        # orjson copies a fragment as it is, unindented: read the whole back once and indent it all (pretty=true is
        # the rare case; the compact text is already sorted, as the fragment is).
        data = orjson.loads(orjson.dumps(data))
    option = orjson.OPT_SORT_KEYS | (orjson.OPT_INDENT_2 if pretty else 0)
    return orjson.dumps(data, option=option)


def to_jsonable(payload: BaseModel | dict[str, Any] | list[Any]) -> Any:
    if isinstance(payload, BaseModel):
        return payload.model_dump(mode="json", by_alias=True, exclude_none=True)
    return payload


def _wrap(data: Any, status: int, fmt: RequestFormat) -> Any:
    if not fmt.envelope:
        return data
    if isinstance(data, dict) and "results" in data:
        return {**data, "status": status}
    return {"status": status, "content": data}


def render(
    payload: BaseModel | dict[str, Any] | list[Any],
    status: int = 200,
    *,
    headers: dict[str, str] | None = None,
    fmt: RequestFormat | None = None,
) -> Response:
    """A success response in the resolved resource version's media type."""
    fmt = fmt or current_format()
    body = dumps(_wrap(to_jsonable(payload), status, fmt), pretty=fmt.pretty)
    media_type = vendor_media_type(fmt.version) + ";charset=utf-8" if fmt.version else "application/json"
    response = Response(body, status_code=status, headers=headers)
    response.headers["content-type"] = media_type
    return response


def ok(payload: BaseModel | dict[str, Any] | list[Any]) -> Response:
    return render(payload, 200)


def created(payload: BaseModel | dict[str, Any] | list[Any]) -> Response:
    return render(payload, 201)


def no_content() -> Response:
    """204, empty, naming the resolved version's media type: the spec declares Atlas's 204s with that type."""
    response = Response(status_code=204)
    version = current_format().version
    if version:
        response.headers["content-type"] = vendor_media_type(version)
    return response


def render_error(error: AtlasError, fmt: RequestFormat | None = None) -> Response:
    fmt = fmt or current_format()
    body = dumps(_wrap(error.body(), error.status, fmt), pretty=fmt.pretty)
    headers = {"X-Error-Code": error.error_code, **error.headers()}
    response = Response(body, status_code=error.status, headers=headers)
    response.headers["content-type"] = ERROR_MEDIA_TYPE
    return response
