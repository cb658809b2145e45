"""``atlas-sa serve | bootstrap | keys rotate | db upgrade | db current``.

Failures a user can cause (a bad database URL, an unreachable database, a busy port) end with one line on stderr
and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import json
import socket
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from atlas_sa import __version__
from atlas_sa.config import SettingsProblem, load
from atlas_sa.kit.crypto import KeyError_, ServerKeys
from atlas_sa.kit.db import DatabaseUrlError, parse_database_url
from atlas_sa.settings import Settings

app = typer.Typer(help="atlas-sa: a self-hostable Atlas Admin API v2 Service Accounts server.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")
keys_app = typer.Typer(help="Token-signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

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


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"atlas-sa: error: {message}", err=True)
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


def safe_url(raw: str) -> str:
    return parse_database_url(raw).render_as_string(hide_password=True)


def migrate(settings: Settings) -> None:
    from atlas_sa.migrations import is_current, upgrade  # noqa: PLC0415 - only commands that migrate need them

    try:
        if not is_current(settings.database_url):
            upgrade(settings.database_url)
    except SQLAlchemyError as exc:
        reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        fail(f"cannot use database {safe_url(settings.database_url)}: {reason}")


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose ``proto`` says TCP, and
    # accepted sockets inherit the listener's. With ``proto=0`` every keep-alive response waited ~40 ms for a
    # delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use")
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8080).")] = None,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Apply pending migrations, then serve the API."""
    import uvicorn  # noqa: PLC0415 - the server is needed only by this command

    from atlas_sa.app import create_app  # noqa: PLC0415
    from atlas_sa.cli.credentials import ensure_signing_key  # noqa: PLC0415
    from atlas_sa.kit.limits import http_protocol  # noqa: PLC0415

    settings = load_settings(config_file, host=host, port=port, database_url=database_url)
    keys = server_keys(settings)
    migrate(settings)
    try:
        # The first signing key is made on first start, so the published JWKS is never empty.
        asyncio.run(ensure_signing_key(settings, keys))
    except SQLAlchemyError as exc:
        fail(f"cannot use database {safe_url(settings.database_url)}: {type(exc).__name__}")
    sock = bind_socket(settings.host, settings.port)
    config = uvicorn.Config(
        create_app(settings),
        log_level=settings.log_level,
        access_log=settings.access_log,
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
        proxy_headers=bool(settings.trusted_proxies),
        server_header=False,
        loop=settings.event_loop,
        timeout_graceful_shutdown=30,
        http=http_protocol(settings),
        # No route speaks WebSocket: an Upgrade header is ignored (RFC 9110 §7.8), the request answered as HTTP.
        ws="none",
    )
    config.load()
    # Everything made so far (modules, routes, models: several hundred thousand objects) lives as long as the
    # process. Frozen, it is left out of the collector's full passes, which otherwise walked all of it every few
    # thousand requests: those pauses were the token endpoint's p99 (120 ms against a p50 of 31 ms at 64
    # connections; 56 ms frozen, docs/performance.md).
    gc.collect()
    gc.freeze()
    typer.echo(f"atlas-sa {__version__} serving on http://{settings.host}:{sock.getsockname()[1]}", err=True)
    uvicorn.Server(config).run(sockets=[sock])


def server_keys(settings: Settings) -> ServerKeys:
    try:
        return ServerKeys.from_settings(settings)
    except KeyError_ as exc:
        fail(str(exc))


@app.command("bootstrap")
def bootstrap_command(
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
    org_name: Annotated[str, typer.Option("--org-name", help="Name of the organization to create.")] = "atlas-sa",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print exactly one JSON object with the ids and credentials.")
    ] = False,
) -> None:
    """Create an organization, a project, an ORG_OWNER service account and an ORG_OWNER API key; print their
    credentials once."""
    from atlas_sa.cli.credentials import describe, run_bootstrap  # noqa: PLC0415 - keeps `serve` start-up lean
    from atlas_sa.orgs.schemas import CreateOrganizationRequest  # noqa: PLC0415

    try:
        # The API's own rule for organization names.
        CreateOrganizationRequest.model_validate({"name": org_name})
    except ValidationError:
        fail(f"invalid organization name {org_name!r}: 1 to 64 letters, digits, spaces or - _ . ( ) , : & @ + '", 2)
    settings = load_settings(config_file, database_url=database_url)
    keys = server_keys(settings)
    migrate(settings)
    try:
        credentials = asyncio.run(run_bootstrap(settings, keys, org_name))
    except SQLAlchemyError as exc:
        fail(f"cannot use database {safe_url(settings.database_url)}: {type(exc).__name__}")
    if as_json:
        typer.echo(json.dumps(credentials.as_json()))
    else:
        typer.echo(describe(credentials, org_name, settings.issuer_url))


@keys_app.command("rotate")
def keys_rotate(database_url: DatabaseUrlOption = None, config_file: ConfigOption = None) -> None:
    """Retire the active token-signing key and create a new one. Tokens signed by the old key keep verifying until
    they expire (one hour)."""
    from atlas_sa.cli.credentials import run_rotate  # noqa: PLC0415

    settings = load_settings(config_file, database_url=database_url)
    keys = server_keys(settings)
    migrate(settings)
    try:
        kid = asyncio.run(run_rotate(settings, keys))
    except SQLAlchemyError as exc:
        fail(f"cannot use database {safe_url(settings.database_url)}: {type(exc).__name__}")
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
    try:
        typer.echo(current_revision(settings.database_url) or "(empty database)")
    except SQLAlchemyError as exc:
        fail(f"cannot use database {safe_url(settings.database_url)}: {type(exc).__name__}")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    sys.exit(app())
