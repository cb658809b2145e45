"""``atlas-sa seed apply FILE``, ``atlas-sa reset [--seed FILE]``, and the seed of ``serve --seed`` (``docs/ci.md``).

Exit codes: 0 done; 1 the database refused (an entry it holds otherwise, a master key that is not its own, an
unreachable database; for ``reset`` without ``--seed``, a SQLite file that does not exist); 2 a bad seed file (one
line per bad entry, naming it), bad settings, or a refusal of the production profile. Whatever fails, nothing is
written: the file is checked whole before the database is touched, the reset and the seed are one transaction, and
a SQLite file the command made (with the development key made beside it) is removed again, so a failed first apply
leaves no database, empty or half-migrated, that a second run would take for an existing one.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from atlas_sa.cli.common import (
    ConfigOption,
    DatabaseUrlOption,
    fail,
    load_key_settings,
    migrate,
    run_with_keys,
    safe_url,
)
from atlas_sa.kit.db import parse_database_url, sqlite_file_missing, sqlite_path

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from atlas_sa.kit.crypto import ServerKeys
    from atlas_sa.onboarding.seed_file import Seed
    from atlas_sa.settings import Settings

app = typer.Typer(
    help="Seeds: a declared state (orgs, projects, accounts with fixed credentials) for CI.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object: the database and what was created.")]
_KINDS = {
    "organizations": ("organization", "organizations"),
    "projects": ("project", "projects"),
    "serviceAccounts": ("service account", "service accounts"),
    "secrets": ("secret", "secrets"),
    "projectAssignments": ("project assignment", "project assignments"),
    "accessListEntries": ("access-list entry", "access-list entries"),
    "apiKeys": ("API key", "API keys"),
}


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="seed")
    main.command("reset")(reset_command)


def load_seed(settings: Settings, path: Path) -> Seed:
    """The seed in ``path``, checked, and allowed by the profile; else the command ends with code 2."""
    # Here, not at the top: every start of `atlas-sa` registers these commands; only theirs pay for the features.
    from atlas_sa.kit.clock import SystemClock  # noqa: PLC0415
    from atlas_sa.onboarding.seed_file import SeedFileError, read_seed  # noqa: PLC0415

    try:
        seed = read_seed(path, now=SystemClock().now(), environ=os.environ)
    except SeedFileError as exc:
        for line in exc.lines[:-1]:
            typer.echo(f"atlas-sa: error: {line}", err=True)
        fail(exc.lines[-1], 2)
    fixed = next(seed.fixed_credentials(), None)
    if fixed is not None and settings.profile == "production" and not settings.allow_fixed_credentials:
        fail(
            f"{path}: {fixed}: the production profile refuses fixed credentials, which whoever reads the seed "
            "knows; set ATLAS_SA_ALLOW_FIXED_CREDENTIALS=true if this server is a CI stand-in",
            2,
        )
    return seed


@contextmanager
def new_database_undone_on_failure(settings: Settings) -> Iterator[None]:
    """Around the migrations and the seed of a command that may make the database: when it fails, the SQLite file it
    made (and SQLite's ``-wal``, ``-shm``, ``-journal`` beside it) and the development key file it made are removed.
    An existing database needs nothing of this: the seed is one transaction, and migrations are each one too."""
    from atlas_sa.kit.crypto import key_file_path  # noqa: PLC0415 - see load_seed

    path = sqlite_path(parse_database_url(settings.database_url))
    if path is None or Path(path).exists():
        yield
        return
    made = [Path(path + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
    if settings.secret_key is None and not (key := key_file_path(settings)).exists():
        made.append(key)
    try:
        yield
    except BaseException as exc:
        if not (isinstance(exc, typer.Exit) and exc.exit_code == 0):
            for file in made:
                file.unlink(missing_ok=True)
        raise


def describe(created: Counter[str]) -> str:
    if not created:
        return "already applied, nothing changed"
    made = [f"{created[kind]} {one if created[kind] == 1 else many}" for kind, (one, many) in _KINDS.items()]
    return "created " + ", ".join(line for kind, line in zip(_KINDS, made, strict=True) if created[kind])


def migrate_and_apply(settings: Settings, path: Path, seed: Seed) -> str:
    """``serve --seed``: migrate, then apply ``seed`` (before listening); the line to tell the user."""
    with new_database_undone_on_failure(settings):
        migrate(settings)
        return f"seed {path}: {describe(_run(settings, path, seed, reset_first=False))}"


def _run(settings: Settings, path: Path | None, seed: Seed | None, *, reset_first: bool) -> Counter[str]:
    from atlas_sa.cli.credentials import run_claimed  # noqa: PLC0415 - see load_seed
    from atlas_sa.kit.clock import SystemClock  # noqa: PLC0415
    from atlas_sa.onboarding.seed import SeedConflict, apply_seed, reset  # noqa: PLC0415

    async def work(session: AsyncSession, keys: ServerKeys) -> Counter[str]:
        if reset_first:
            await reset(session)
        return Counter() if seed is None else await apply_seed(session, keys, SystemClock(), seed)

    try:
        return run_with_keys(settings, run_claimed(settings, work))
    except SeedConflict as conflict:
        fail(f"{path}: {conflict}; nothing was written (atlas-sa reset --seed FILE starts over)")


def _report(path: Path | None, created: Counter[str], as_json: bool, database: str, said: str) -> None:
    if as_json:
        document = {"database": database, "seed": None if path is None else str(path), "created": dict(created)}
        typer.echo(json.dumps(document))
    else:
        typer.echo(said + ("" if path is None else f"; seed {path}: {describe(created)}"))


@app.command("apply")
def seed_apply(
    file: Annotated[Path, typer.Argument(help="The seed file (TOML, docs/ci.md).")],
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Create what the seed declares and the database lacks; a second run changes nothing."""
    settings = load_key_settings(config_file, database_url=database_url)
    seed = load_seed(settings, file)
    with new_database_undone_on_failure(settings):
        migrate(settings)
        created = _run(settings, file, seed, reset_first=False)
    database = safe_url(settings.database_url)
    _report(file, created, as_json, database, f"applied to {database}")


def reset_command(
    seed_file: Annotated[
        Path | None, typer.Option("--seed", help="Apply this seed file after emptying, in the same transaction.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Reset under the production profile too.")] = False,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Empty the database (every organization, account, key, token and event; the master key's check and the
    signing keys stay), then apply --seed. For a stopped server on SQLite: a running one keeps its caches."""
    settings = load_key_settings(config_file, database_url=database_url)
    if settings.profile == "production" and not force:
        fail("reset deletes everything: under the production profile it needs --force", 2)
    seed = None if seed_file is None else load_seed(settings, seed_file)
    if seed is None and sqlite_file_missing(parse_database_url(settings.database_url)):
        # A mistyped path would otherwise make, and "empty", a new database and a key beside it.
        fail(f"no database at {safe_url(settings.database_url)} (atlas-sa db upgrade makes one)")
    with new_database_undone_on_failure(settings):
        migrate(settings)
        created = _run(settings, seed_file, seed, reset_first=True)
    database = safe_url(settings.database_url)
    _report(seed_file, created, as_json, database, f"emptied {database}")
