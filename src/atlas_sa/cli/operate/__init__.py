"""The operator's commands: everyday work on the database without HTTP (docs/operating.md).

Each group is a module with its own ``typer.Typer``; :mod:`atlas_sa.cli.operate.shared` holds what they share.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer


def register(app: typer.Typer, *, unless_running: Sequence[str] = ()) -> None:
    """Add the operator's command groups to ``atlas-sa``, unless ``unless_running`` (the command's name) names one
    of ``app``'s own commands: the groups import every feature's services, repositories, models and schemas, some
    0.4 s of CPU at every start that ``serve`` or ``db`` would spend for nothing."""
    own = {
        command.name or getattr(command.callback, "__name__", "").replace("_", "-")
        for command in app.registered_commands
    }
    own |= {group.name for group in app.registered_groups if group.name}
    if own.intersection(unless_running):
        return
    from atlas_sa.cli.operate import (  # noqa: PLC0415 - only when a group may run (above)
        access_lists,
        accounts,
        api_keys,
        config,
        events,
        orgs,
        projects,
        secrets,
        tokens,
    )

    app.add_typer(orgs.app, name="orgs")
    app.add_typer(projects.app, name="projects")
    app.add_typer(accounts.app, name="accounts")
    app.add_typer(secrets.app, name="secrets")
    app.add_typer(tokens.app, name="tokens")
    app.add_typer(access_lists.app, name="access-lists")
    app.add_typer(api_keys.app, name="api-keys")
    app.add_typer(events.app, name="events")
    app.add_typer(config.app, name="config")
