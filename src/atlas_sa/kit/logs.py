"""One logging configuration for the server and uvicorn: stderr, ``ATLAS_SA_LOG_LEVEL``, and
``ATLAS_SA_LOG_FORMAT`` ``text`` (one readable line per record) or ``json`` (one JSON object per line:
``time``, ``level``, ``logger``, ``message``, and any structured fields the record carries, such as the access log's
``method``, ``route``, ``status``, ``duration_ms``, ``caller``).

Every record written while a request runs carries that request's ``request_id``
(:func:`atlas_sa.kit.observe.current_request_id`), whichever module wrote it.

Nothing here filters secrets: no code logs a credential, a form, a header or an exception's message in the first
place (``docs/security.md``); the text format only escapes control characters, so that a value a client chose
(a path, a client id) cannot start a forged line.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.orjson import OrjsonFormatter

from atlas_sa.kit.observe import current_request_id

LogFormat = Literal["text", "json"]
# uvicorn's own loggers: they propagate to the root's handler rather than keeping their own.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
# Escapes for C0 controls and DEL; ``\t`` stays readable as ``\t``.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to records written while a request runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id()
        if request_id is not None:
            record.request_id = request_id
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record).translate(_CONTROLS)
        request_id = getattr(record, "request_id", None)
        return f"{line} request_id={request_id}" if request_id is not None else line


def json_formatter() -> logging.Formatter:
    return OrjsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        # uvicorn's colourised copy of its messages.
        reserved_attrs=[*_reserved(), "color_message"],
    )


def _reserved() -> list[str]:
    from pythonjsonlogger.core import RESERVED_ATTRS  # noqa: PLC0415 - next to its one use

    return [*RESERVED_ATTRS, "taskName"]


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Send every record, uvicorn's included, through one stderr handler in the chosen format. ``level`` applies
    to atlas-sa's and uvicorn's loggers; other libraries stay at WARNING whatever it is: SQLAlchemy's engine logger,
    for one, writes every statement with its parameters at INFO."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("atlas_sa").setLevel(level.upper())
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(level.upper() if name == "uvicorn" else logging.NOTSET)
