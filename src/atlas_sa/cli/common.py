"""What every ``atlas-sa`` command shares: the ``--database-url`` and ``--config`` options, settings loading, the
one-line failures (:func:`fail` inside a command, :func:`stop` outside one), the master-key and database guard
around a command's work (:func:`run_with_keys`) and migrations. Below :mod:`atlas_sa.cli.main` (which builds the
command line) and the commands it registers (:mod:`atlas_sa.cli.operate`, :mod:`atlas_sa.cli.seed`,
:mod:`atlas_sa.cli.serving`), so they import these without importing the command line itself."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from atlas_sa.config import SettingsProblem, load
from atlas_sa.kit.crypto import KeyError_, check_key_settings
from atlas_sa.kit.db import DatabaseUrlError, describe_database, parse_database_url
from atlas_sa.settings import Settings

T = TypeVar("T")
log = logging.getLogger("atlas_sa.serve")
_json_log = threading.Event()
# Set by ``--debug``: an unexpected failure prints its traceback too.
debugging = threading.Event()

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="SQLAlchemy URL; default from ATLAS_SA_DATABASE_URL or sqlite:///./atlas-sa.db"
    ),
]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML settings file (`port = 8080`: the settings' names without ATLAS_SA_); default from ATLAS_SA_CONFIG. "
        "Options outrank the environment, which outranks the file.",
    ),
]


def say(message: str, level: int = logging.INFO) -> None:
    """A line for the user on stderr; a log record under `serve` with ATLAS_SA_LOG_FORMAT=json, where every line on
    stderr is a JSON object."""
    if _json_log.is_set():
        log.log(level, "%s", message)
    else:
        typer.echo(message, err=True)


def log_lines_as_json() -> None:
    """``serve`` with ATLAS_SA_LOG_FORMAT=json: from now on :func:`say` writes log records."""
    _json_log.set()


def fail(message: str, code: int = 1) -> NoReturn:
    say(f"atlas-sa: error: {message}", logging.ERROR)
    raise typer.Exit(code)


def warn(lines: list[str]) -> None:
    for line in lines:
        typer.echo(f"atlas-sa: warning: {line}", err=True)


def load_settings(config_file: Path | None = None, **options: object) -> Settings:
    """The one way every command gets its settings (:mod:`atlas_sa.config`): the same rules for each, warnings for
    names that are not settings, and one line per broken rule (exit code 2)."""
    try:
        loaded = load(options, config_file)
    except SettingsProblem as problem:
        warn(problem.warnings)
        for line in problem.lines[:-1]:
            typer.echo(f"atlas-sa: error: {line}", err=True)
        fail(problem.lines[-1], 2)
    warn(loaded.warnings)
    try:
        parse_database_url(loaded.settings.database_url)
    except DatabaseUrlError as exc:
        fail(f"{loaded.origins.name('database_url')}: {exc}", 2)
    return loaded.settings


def load_key_settings(config_file: Path | None = None, **options: object) -> Settings:
    """Settings for a command that uses the master key: refused at once when they can give none."""
    settings = load_settings(config_file, **options)
    try:
        check_key_settings(settings)
    except KeyError_ as exc:
        fail(str(exc), 2)
    return settings


def safe_url(raw: str) -> str:
    return describe_database(parse_database_url(raw))


def run_with_keys(settings: Settings, work: Coroutine[Any, Any, T]) -> T:
    """Run a command's database work; a key or database failure ends the command with one line."""
    from atlas_sa.auth.masterkey import DatabaseKeyError  # noqa: PLC0415 - keeps `--help` and `db` commands lean

    try:
        return asyncio.run(work)
    except DatabaseKeyError as exc:
        fail(f"cannot use database {safe_url(settings.database_url)}: {exc}")
    except KeyError_ as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"cannot use database {safe_url(settings.database_url)}: {type(exc).__name__}")


def migrate(settings: Settings) -> bool:
    """Apply pending migrations; whether the database had no schema at all (a new database)."""
    from atlas_sa.migrations import current_revision, is_current, upgrade  # noqa: PLC0415 - see migrations.HEAD

    try:
        if is_current(settings.database_url):
            return False
        fresh = current_revision(settings.database_url) is None
        upgrade(settings.database_url)
    except SQLAlchemyError as exc:
        reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        fail(f"cannot use database {safe_url(settings.database_url)}: {reason}")
    return fresh


def stop(message: str, code: int) -> NoReturn:
    """:func:`fail` outside a command, where no click context turns ``typer.Exit`` into the exit code."""
    say(f"atlas-sa: error: {message}", logging.ERROR)
    raise SystemExit(code)
