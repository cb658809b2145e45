"""``atlas-sa serve | bootstrap | keys rotate | db upgrade | db current``.

Failures a user can cause (a bad database URL, an unreachable database, a busy port, a master key the database was
not made with) end with one line on stderr and a non-zero exit code, never a traceback; so do click's usage errors
(exit code 2) and, as a last resort, any failure nobody foresaw (exit code 1, :func:`main`; ``--debug`` adds the
traceback). Every command that writes
credentials, and ``serve``, first checks that the master key is the database's (:mod:`atlas_sa.auth.masterkey`);
``db upgrade`` and ``db current`` never touch keys.
"""

from __future__ import annotations

import json
import shlex
import sys
import traceback
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from atlas_sa import __version__
from atlas_sa.cli.common import (
    ConfigOption,
    DatabaseUrlOption,
    debugging,
    fail,
    load_key_settings,
    load_settings,
    migrate,
    run_with_keys,
    safe_url,
    stop,
)
from atlas_sa.cli.operate import register
from atlas_sa.cli.seed import register as register_seed
from atlas_sa.kit.db import parse_database_url, sqlite_file_missing

# Typer's own traceback for an unexpected exception is off (and never with local variables, which can hold the
# master key or a secret): main() writes one line instead, and the traceback only with --debug.
app = typer.Typer(
    help="atlas-sa: a self-hostable Atlas Admin API v2 Service Accounts server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")
keys_app = typer.Typer(help="Token-signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def show_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit


@app.callback()
def main_options(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="On an unexpected failure, print its traceback (no variables' values).")
    ] = False,
) -> None:
    """atlas-sa: a self-hostable Atlas Admin API v2 Service Accounts server."""
    if debug:
        debugging.set()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8080).")] = None,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate chain: serve HTTPS (with --tls-key).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
    tls_dev: Annotated[
        bool | None,
        typer.Option("--tls-dev", help="Serve HTTPS with a development CA kept beside the database; prints its file."),
    ] = None,
    seed: Annotated[
        Path | None, typer.Option(help="Seed file (TOML) to apply at start, after migrations (docs/ci.md).")
    ] = None,
) -> None:
    """Apply pending migrations, then serve the API."""
    # The web stack (uvicorn, FastAPI, the app and every endpoint module) is imported here and only here: the other
    # commands call the services directly, and each of their processes starts without it (tests/cli/test_startup.py).
    from atlas_sa.cli.serving import run_server  # noqa: PLC0415

    run_server(
        load_key_settings(
            config_file,
            host=host,
            port=port,
            database_url=database_url,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_dev=tls_dev,
            seed=seed,
        )
    )


@app.command("bootstrap")
def bootstrap_command(
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
    org_name: Annotated[str, typer.Option("--org-name", help="Name of the organization to create.")] = "atlas-sa",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print exactly one JSON object with the ids and credentials.")
    ] = False,
    as_shell: Annotated[
        bool,
        typer.Option(
            "--shell",
            help="Print `export NAME=value` lines for eval: ORG_ID, GROUP_ID, CLIENT_ID, CLIENT_SECRET, "
            "PUBLIC_KEY, PRIVATE_KEY (what they are goes to stderr).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Create the organization even if one of that name exists.")
    ] = False,
) -> None:
    """Create an organization, a project, an ORG_OWNER service account and an ORG_OWNER API key; print their
    credentials once."""
    from atlas_sa.cli.credentials import OrgNameTaken, describe, run_bootstrap  # noqa: PLC0415 - lean `serve`
    from atlas_sa.onboarding.schemas import CreateOrganizationRequest  # noqa: PLC0415

    if as_json and as_shell:
        fail("choose one of --json and --shell", 2)
    try:
        # The API's own rule for organization names.
        CreateOrganizationRequest.model_validate({"name": org_name})
    except ValidationError:
        fail(f"invalid organization name {org_name!r}: 1 to 64 letters, digits, spaces or - _ . ( ) , : & @ + '", 2)
    settings = load_key_settings(config_file, database_url=database_url)
    database = safe_url(settings.database_url)
    # A bootstrap run in another folder (or with another URL) than the server's makes a database of its own: say so.
    where = (
        f"a new, empty database {database}, created just now (a server using another database will refuse these "
        "credentials)"
        if migrate(settings)
        else f"the database {database}"
    )
    try:
        credentials = run_with_keys(settings, run_bootstrap(settings, org_name, force=force))
    except OrgNameTaken as taken:
        fail(
            f'database {database} already has an organization named "{taken.name}" (orgId {taken.org_id}): '
            "choose another --org-name, or add --force for a second one of that name"
        )
    if as_json:
        typer.echo(json.dumps({**credentials.as_json(), "database": database}))
    elif as_shell:
        for name, value in shell_variables(credentials.as_json()).items():
            typer.echo(f"export {name}={shlex.quote(value)}")
        typer.echo(
            f'Created organization "{org_name}" (orgId {credentials.org_id}) in {where}; its service '
            f"account's secret expires {credentials.as_json()['secretExpiresAt']}. Set in your shell: "
            f"{', '.join(shell_variables(credentials.as_json()))}. The secrets are shown nowhere else: keep them.",
            err=True,
        )
    else:
        typer.echo(describe(credentials, org_name, settings.issuer_url, where))


def shell_variables(made: dict[str, str | None]) -> dict[str, str]:
    names = {
        "orgId": "ORG_ID",
        "groupId": "GROUP_ID",
        "clientId": "CLIENT_ID",
        "clientSecret": "CLIENT_SECRET",
        "publicKey": "PUBLIC_KEY",
        "privateKey": "PRIVATE_KEY",
    }
    return {name: made[field] or "" for field, name in names.items()}


@keys_app.command("rotate")
def keys_rotate(database_url: DatabaseUrlOption = None, config_file: ConfigOption = None) -> None:
    """Retire the active token-signing key and create a new one. Tokens signed by the old key keep verifying until
    they expire (one hour)."""
    from atlas_sa.cli.credentials import run_rotate  # noqa: PLC0415

    settings = load_key_settings(config_file, database_url=database_url)
    migrate(settings)
    kid = run_with_keys(settings, run_rotate(settings))
    typer.echo(f"new signing key {kid}; the previous key verifies its tokens until they expire")


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrlOption = None, config_file: ConfigOption = None) -> None:
    """Apply every pending migration."""
    settings = load_settings(config_file, database_url=database_url)
    migrate(settings)
    typer.echo(f"database {safe_url(settings.database_url)} is at the latest schema")


@db_app.command("current")
def db_current(database_url: DatabaseUrlOption = None, config_file: ConfigOption = None) -> None:
    """Print the schema revision the database is at."""
    from atlas_sa.migrations import current_revision  # noqa: PLC0415

    settings = load_settings(config_file, database_url=database_url)
    if sqlite_file_missing(parse_database_url(settings.database_url)):
        # Asking must not create: SQLite would leave an empty file behind.
        fail(f"no database at {safe_url(settings.database_url)}")
    try:
        typer.echo(current_revision(settings.database_url) or "(empty database)")
    except SQLAlchemyError as exc:
        fail(f"cannot use database {safe_url(settings.database_url)}: {type(exc).__name__}")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    # First: `seed` and `reset` are then this app's own commands, for which the operator's groups are not loaded.
    register_seed(app)
    # The command's name: the first argument that is not an option (``atlas-sa --debug db current``).
    register(app, unless_running=[next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "")])
    # Not standalone: click hands its errors back instead of printing them (in a box drawn for a terminal, even in
    # CI's logs), so they are written as every other failure is, in one line.
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        stop("aborted", 1)
    except typer.TyperException as error:
        usage_error(error)
    except Exception as error:  # noqa: BLE001 - the last resort: one line, not a traceback
        unexpected(error)
    sys.exit(code)


def usage_error(error: typer.TyperException) -> NoReturn:
    """Click's error (a usage error: exit code 2) in one line, with where to read the usage."""
    message = error.format_message()
    if not message or "\n" in message:
        # A command group run without a command (no_args_is_help): its help is the message, or typer has printed it
        # already (rich help, an empty message). Shown whole, as click shows it.
        if message:
            typer.echo(message, err=True)
        raise SystemExit(error.exit_code)
    context = getattr(error, "ctx", None)
    hint = f" (see {context.command_path} --help)" if context is not None else ""
    stop(f"{message}{hint}", error.exit_code)


def unexpected(error: Exception) -> NoReturn:
    """A failure no command foresaw: its type and the first line of its message, exit code 1. The traceback with
    ``--debug`` only; never the values of variables, which can hold a key or a secret."""
    if debugging.is_set():
        traceback.print_exception(error)
    first = next(iter(str(error).strip().splitlines()), "")
    detail = f"{type(error).__name__}: {first}" if first else type(error).__name__
    stop(f"unexpected failure: {detail}" + ("" if debugging.is_set() else " (atlas-sa --debug … shows where)"), 1)
