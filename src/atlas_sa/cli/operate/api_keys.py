"""``atlas-sa api-keys create | list | delete``: Atlas's createApiKey, listApiKeys and deleteApiKey, which the API
here does not serve (keys are made by bootstrap, seeds and these commands; they authenticate with HTTP Digest).

``--json`` prints Atlas's ``ApiKeyUserDetails``; only ``create`` has its ``privateKey``, printed once, as Atlas
shows it once. The list never shows one, not even masked.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from atlas_sa.api_keys.service import api_key_by_public_key, create_api_key, delete_api_key, list_api_keys
from atlas_sa.cli.common import ConfigOption, DatabaseUrlOption
from atlas_sa.cli.operate.shared import JsonOption, Operation, Output, emit, operate, table, timestamp
from atlas_sa.models import ApiKey

app = typer.Typer(help="Programmatic API keys (HTTP Digest).", no_args_is_help=True)


def key_document(base: str, key: ApiKey, private_key: str | None = None) -> dict[str, Any]:
    """Atlas's ``ApiKeyUserDetails``, with ``privateKey`` only when it is being shown for the first and only time."""
    document: dict[str, Any] = {
        "desc": key.description,
        "id": key.id,
        "links": [{"href": f"{base}/api/atlas/v2/orgs/{key.org_id}/apiKeys/{key.id}", "rel": "self"}],
        "publicKey": key.public_key,
        "roles": [{"orgId": key.org_id, "roleName": role} for role in key.roles],
    }
    if private_key is not None:
        document["privateKey"] = private_key
    return document


@app.command("create")
def create_key(
    org_id: Annotated[str, typer.Option("--org", help="The organization the key belongs to.")],
    description: Annotated[str, typer.Option("--description", help="What the key is for (1 to 250 characters).")],
    roles: Annotated[
        list[str] | None, typer.Option("--role", help="An organization role, ORG_OWNER… (repeat for several).")
    ] = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Create an API key (createApiKey) and print its private key, once."""

    async def work(op: Operation) -> Output:
        public_key, private_key = await create_api_key(
            op.session, op.keys, op.clock, org_id, roles or (), description, op.events
        )
        key = await api_key_by_public_key(op.session, public_key)
        assert key is not None
        human = "\n".join(
            [
                f"Created API key {key.public_key} (id {key.id}) in organization {key.org_id}, "
                f"role{'s' if len(key.roles) > 1 else ''} {', '.join(key.roles)}.",
                "Shown once: store it now.",
                f"  publicKey   {public_key}",
                f"  privateKey  {private_key}",
                f"Use it with HTTP Digest: curl --digest -u '{public_key}:<privateKey>' "
                f"-H 'Accept: application/vnd.atlas.2023-01-01+json' {op.base}/api/atlas/v2/orgs/{key.org_id}",
            ]
        )
        return Output(key_document(op.base, key, private_key), human)

    emit(operate(database_url, config_file, work), as_json)


@app.command("list")
def list_keys(
    org_id: Annotated[str | None, typer.Option("--org", help="Only this organization's keys.")] = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Every API key, or one organization's (listApiKeys), oldest first; never a private key."""

    async def work(op: Operation) -> Output:
        keys = await list_api_keys(op.session, org_id)
        return Output(
            {"results": [key_document(op.base, key) for key in keys], "totalCount": len(keys)},
            table(
                ["ID", "PUBLIC KEY", "ORG ID", "ROLES", "CREATED", "DESCRIPTION"],
                [[k.id, k.public_key, k.org_id, k.roles, timestamp(k.created_at), k.description] for k in keys],
                empty="no API keys",
            ),
        )

    emit(operate(database_url, config_file, work), as_json)


@app.command("delete")
def delete_key(
    key: Annotated[str, typer.Argument(help="The key's id (24 hexadecimal digits) or its public key.")],
    org_id: Annotated[str | None, typer.Option("--org", help="Refuse unless the key is this organization's.")] = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Delete an API key (deleteApiKey): it stops authenticating at once."""

    async def work(op: Operation) -> Output:
        row = await delete_api_key(op.session, key, op.events, org_id=org_id)
        return Output(
            {"apiKeyId": row.id, "publicKey": row.public_key, "deleted": True},
            f"Deleted API key {row.public_key} (id {row.id}) of organization {row.org_id}.",
        )

    emit(operate(database_url, config_file, work), as_json)
