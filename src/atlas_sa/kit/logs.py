"""One logging configuration for the server and uvicorn: stderr, ``ATLAS_SA_LOG_LEVEL``, and
``ATLAS_SA_LOG_FORMAT`` ``text`` (one readable line per record) or ``json`` (one JSON object per line:
``time``, ``level``, ``logger``, ``message``, and any structured fields the record carries, such as the access log's
``method``, ``route``, ``status``, ``duration_ms``, ``caller``).

Every record written while a request runs carries that request's ``request_id``
(:func:`atlas_sa.kit.observe.current_request_id`), whichever module wrote it.

Nothing here filters secrets: no code logs a credential, a form, a header or an exception's message in the first
place (``docs/security.md``); the text format only escapes control characters, so that a value a client chose
(a path, a client id) cannot start a forged line.

Of an exception logged with a record (``exc_info``, by uvicorn on a failed start-up or by any library), both formats
write the type alone, never the traceback or the message: a database error's show the statement and its parameters,
client input that may be a credential. Stacks (``stack_info``) are left out.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

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


def exception_note(record: logging.LogRecord) -> str | None:
    """What a record's exception is written as: its type alone."""
    if not record.exc_info or record.exc_info[0] is None:
        return None
    return f"exception {record.exc_info[0].__name__} (traceback not logged)"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # One line still: an exception as its type at the end, no traceback, no stack.
        note = exception_note(record)
        if note is not None or record.exc_text or record.stack_info:
            message = record.getMessage() + (f" [{note}]" if note else "")
            changes = {"msg": message, "args": None, "exc_info": None, "exc_text": None, "stack_info": None}
            record = logging.makeLogRecord({**record.__dict__, **changes})
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record).translate(_CONTROLS)
        request_id = getattr(record, "request_id", None)
        return f"{line} request_id={request_id}" if request_id is not None else line


class _TypeOnlyJsonFormatter(OrjsonFormatter):
    """``exc_info`` holds the exception's type alone; no ``stack_info``."""

    def format(self, record: logging.LogRecord) -> str:
        # Another handler may have cached the full traceback on the record.
        record.exc_text = None
        if record.stack_info:
            record = logging.makeLogRecord({**record.__dict__, "stack_info": None})
        return super().format(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return f"{ei[0].__name__ if ei[0] is not None else 'None'} (traceback not logged)"


def json_formatter() -> logging.Formatter:
    return _TypeOnlyJsonFormatter(
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
