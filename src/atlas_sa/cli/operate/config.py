"""``atlas-sa config show``: the settings every command would use here, each with the source that gave it.

Secrets never appear: the master key is shown as ``(redacted)`` when set, a database URL without its password.
"""

from __future__ import annotations

from typing import Any

import typer
from pydantic import SecretStr

from atlas_sa.cli.common import ConfigOption, DatabaseUrlOption, load_settings, safe_url
from atlas_sa.cli.operate.shared import JsonOption, Output, cell, emit, table
from atlas_sa.config import load

app = typer.Typer(help="Settings.", no_args_is_help=True)
REDACTED = "(redacted)"


@app.command("show")
def show_config(
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Print the effective settings and where each came from: option, environment, file or default."""
    # The same checks, warnings and errors as every other command; then the sources of what it accepted.
    settings = load_settings(config_file, database_url=database_url)
    loaded = load({"database_url": database_url}, config_file)
    shown: dict[str, dict[str, Any]] = {}
    for name, raw in settings.model_dump(mode="python").items():
        value = _shown(name, raw)
        source = loaded.origins.source(name)
        # As the user gave it (``--database-url``, ``ATLAS_SA_PORT``, ``port in FILE``), to find and change it.
        shown[name] = {
            "value": value,
            "source": source,
            "given": None if source == "default" else loaded.origins.name(name),
        }
    rows = [[name, cell(entry["value"]), entry["given"] or "default"] for name, entry in shown.items()]
    file = loaded.origins.file
    emit(
        Output(
            {"configFile": None if file is None else str(file), "settings": shown},
            f"config file: {file if file is not None else '(none)'}\n" + table(["SETTING", "VALUE", "FROM"], rows),
        ),
        as_json,
    )


def _shown(name: str, value: object) -> object:
    """A setting's value fit to print: never a secret, and JSON-ready."""
    if isinstance(value, SecretStr):
        return REDACTED
    if name == "database_url":
        return safe_url(str(value))
    if value is None or isinstance(value, bool | int | float | str | list):
        return value
    return str(value)
