"""Client text: what the server admits as text from a client, checked where it enters, before any lookup.

PostgreSQL refuses NUL (U+0000) in text, and no driver can write a lone surrogate (U+D800..U+DFFF unpaired) as
UTF-8, while SQLite takes both: let through, such text answers 500 on one backend and something else on the other.
Bytes that are not UTF-8 once percent-decoded are no better: servers decode the path and query leniently (each bad
sequence becomes U+FFFD), so a lookup would silently search for text the client never sent. One rule covers the
three: text is admissible when it holds neither NUL nor a lone surrogate, the URL being decoded so that bytes which
are not UTF-8 become lone surrogates (``surrogateescape``).

Where each input is admitted, and what a refusal answers:

- the URL, path parameters and query parameters (names and values), of every Atlas route: 400
  ``INVALID_PATH_PARAMETER`` / ``INVALID_QUERY_PARAMETER`` naming the parameter (:mod:`atlas_sa.kit.routing`); of the
  OAuth routes: ``invalid_request`` (:mod:`atlas_sa.auth.endpoints`);
- JSON bodies, every key and string value at any depth: 400 ``INVALID_ATTRIBUTE`` naming the field
  (:mod:`atlas_sa.kit.routing`);
- OAuth forms: ``invalid_request``, except the credentials (:mod:`atlas_sa.auth.endpoints`);
- credentials (HTTP Basic, the form's ``client_id``/``client_secret``, a Digest username): never looked up unless
  they could name a credential, so one that is not admissible text fails as a wrong one does: the 401 of its scheme,
  counted by the brute-force guard.

Like the ``Accept`` version and ``envelope``/``pretty``, the URL and the body's text are checked before the credential:
a refusal says nothing about any resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

from starlette.types import Scope

_INADMISSIBLE = re.compile("[\x00\ud800-\udfff]")
RULE = "must be UTF-8 text without NUL characters or unpaired surrogates"


def admissible(text: str) -> bool:
    """No NUL, no lone surrogate."""
    return _INADMISSIBLE.search(text) is None


def shown(text: str) -> str:
    """``text`` as an error body may echo it: each inadmissible character as U+FFFD (JSON writers refuse lone
    surrogates)."""
    return _INADMISSIBLE.sub("\ufffd", text)


def _plain(raw: bytes) -> bool:
    # The common case, decided without decoding: ASCII with no escapes and no NUL is admissible text.
    return raw.isascii() and b"%" not in raw and b"\x00" not in raw


def _decoded(raw: bytes) -> str:
    """Percent-decoded UTF-8, each byte that is not part of valid UTF-8 as a lone surrogate."""
    return unquote_to_bytes(raw).decode("utf-8", "surrogateescape")


def bad_path_parameter(scope: Scope, path_regex: re.Pattern[str]) -> str | None:
    """The name of the first path parameter of the matched route that is not admissible text, or ``None``.

    The server's decoded ``path`` has lost the difference between bad bytes and a U+FFFD the client sent, so the
    raw path is read; decoded, it has the decoded path's shape (``%2F`` stays inside its parameter), so the route's
    own pattern splits it into parameters."""
    raw: bytes | None = scope.get("raw_path")
    if raw is None:
        text: str = scope["path"]
    else:
        # Some transports (httpx's ASGI transport) leave the query string in ``raw_path``.
        raw = raw.split(b"?", 1)[0]
        if _plain(raw):
            return None
        text = _decoded(raw)
    if admissible(text):
        return None
    match = path_regex.match(text[len(scope.get("root_path", "")) :])
    if match is not None:
        for name, value in match.groupdict().items():
            if not admissible(value):
                return name
    return "path"


def _query_pairs(query_string: bytes) -> Iterator[tuple[str, str]]:
    # As ``urllib.parse.parse_qsl`` (which Starlette uses) splits it: on ``&``, ``+`` for space.
    for part in query_string.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            yield _decoded(name.replace(b"+", b" ")), _decoded(value.replace(b"+", b" "))


def bad_query_parameter(query_string: bytes) -> str | None:
    """The name (as :func:`shown`) of the first query parameter whose name or value is not admissible text."""
    if _plain(query_string):
        return None
    for name, value in _query_pairs(query_string):
        if not admissible(name) or not admissible(value):
            return shown(name)
    return None


def bad_url_parameter(scope: Scope, path_regex: re.Pattern[str]) -> tuple[Literal["path", "query"], str] | None:
    """Where the URL holds text that is not admissible: ``("path", name)``, ``("query", name)`` or ``None``."""
    name = bad_path_parameter(scope, path_regex)
    if name is not None:
        return "path", name
    name = bad_query_parameter(scope.get("query_string", b""))
    if name is not None:
        return "query", name
    return None


def bad_json_location(document: Any) -> tuple[str | int, ...] | None:
    """The location (keys and indexes) of a key or string value, at any depth of a decoded JSON document, that is not
    admissible text, or ``None``; a bad key is named as :func:`shown` writes it."""
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while pending:
        location, value = pending.pop()
        if isinstance(value, str):
            if not admissible(value):
                return location
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                if not admissible(key):
                    return (*location, shown(key))
                pending.append(((*location, key), item))
        elif isinstance(value, list):
            pending.extend(((*location, index), item) for index, item in reversed(list(enumerate(value))))
    return None
