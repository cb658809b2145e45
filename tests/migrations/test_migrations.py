"""Migrations: the head the server checks against is Alembic's own, the migrations build exactly the schema the models
declare (tables, columns, indexes) on both backends, and a database already at head starts the server without
Alembic in its memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from atlas_sa.kit.db import parse_database_url, sync_url
from atlas_sa.migrations import HEAD, alembic_config, is_current, upgrade
from atlas_sa.models import Base


def test_head_is_alembics_head(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(alembic_config(f"sqlite:///{tmp_path / 'x.db'}"))
    assert script.get_heads() == [HEAD]


def test_the_migrated_schema_is_the_models_schema(database_url: str) -> None:
    # ``database_url`` was built by the migrations alone; any index or column added to a model without a migration
    # (or the reverse) shows up as a difference.
    engine = create_engine(sync_url(parse_database_url(database_url)))
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_is_current_follows_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'atlas.db'}"
    assert not is_current(url)  # no schema at all
    upgrade(url, "0001")
    assert not is_current(url)
    upgrade(url)
    assert is_current(url)


def test_an_unreachable_database_is_not_current() -> None:
    assert not is_current("postgresql://nobody@127.0.0.1:1/none")


def test_a_current_database_is_served_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'atlas.db'}"
    upgrade(url)
    program = (
        "import sys\n"
        "from atlas_sa.cli.common import migrate\n"
        "from atlas_sa.settings import Settings\n"
        f"migrate(Settings(database_url={url!r}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
