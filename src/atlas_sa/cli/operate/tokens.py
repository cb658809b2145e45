"""``atlas-sa tokens revoke --client-id CLIENT_ID``: every live access token of an account, at once."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_sa.auth.repository import CredentialRepository
from atlas_sa.auth.service import revoke_all
from atlas_sa.cli.common import ConfigOption, DatabaseUrlOption
from atlas_sa.cli.operate.shared import JsonOption, Operation, Output, emit, operate
from atlas_sa.identity.principal import SYSTEM

app = typer.Typer(help="Access tokens.", no_args_is_help=True)


@app.command("revoke")
def revoke_tokens(
    client_id: Annotated[str, typer.Option("--client-id", help="The account whose tokens to revoke.")],
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Revoke every live access token of a service account (a suspected leak). Its secrets stay valid: delete or
    rotate them too when a secret may have leaked."""

    async def work(op: Operation) -> Output:
        account = await op.accounts.locate(SYSTEM, client_id)
        revoked = await revoke_all(CredentialRepository(op.session), account, op.clock.now())
        return Output(
            {"clientId": client_id, "revoked": revoked},
            f"Revoked {revoked} live token(s) of {client_id}. Its secrets still mint new ones: "
            f"`atlas-sa secrets rotate {client_id}` replaces a leaked secret.",
        )

    emit(operate(database_url, config_file, work), as_json)
