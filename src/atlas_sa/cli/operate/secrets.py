"""``atlas-sa secrets create | delete | expiring | rotate``: an account's secrets through its organization's path
(createOrgSecret, deleteOrgSecret), the secrets of every organization that expire soon, and zero-downtime rotation.

Rotation is two steps around the clients' change (docs/operating.md). ``rotate`` makes a new secret: createOrgSecret,
which caps every older secret at 7 days (Atlas's rule), so the old one keeps working while clients move. ``rotate
--finish`` then deletes the older secrets, which revokes the tokens they minted; it refuses (exit code 4) while an
older secret is the only one authenticating recent traffic: used within ``--recent`` (a token minted, its
``lastUsedAt``) or still holding live tokens, while the new one is neither. ``--force`` deletes anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated

import typer

from atlas_sa.auth.repository import CredentialRepository
from atlas_sa.cli.common import ConfigOption, DatabaseUrlOption
from atlas_sa.cli.operate.shared import (
    JsonOption,
    Operation,
    Output,
    Refused,
    duration,
    emit,
    operate,
    org_of,
    table,
    timestamp,
    whole_hours,
)
from atlas_sa.errors import MaxSecretsPerServiceAccountExceeded
from atlas_sa.identity.principal import SYSTEM
from atlas_sa.kit.rendering import to_jsonable
from atlas_sa.models import AccessToken, ServiceAccountSecret
from atlas_sa.service_accounts.rendering import issued_secret_schema, secret_schema
from atlas_sa.service_accounts.service import MIN_SECRET_VALIDITY_HOURS, IssuedSecret, masked

app = typer.Typer(help="Service-account secrets: create, delete, find the expiring ones, rotate.", no_args_is_help=True)

# A secret as an account's view holds it.
StoredSecret = ServiceAccountSecret
ClientIdArgument = Annotated[str, typer.Argument(help="The account's client id (mdb_sa_id_…).")]
OrgOption = Annotated[str | None, typer.Option("--org", help="The organization's path (default: the account's).")]


def _expires_after(help_text: str) -> object:
    return typer.Option("--expires-after", parser=duration, metavar="DURATION", help=help_text)


def issued_lines(client_id: str, issued: IssuedSecret) -> list[str]:
    secret = issued.secret
    return [
        f"New secret for {client_id} (secretId {secret.id}), valid until {timestamp(secret.expires_at)}.",
        "Shown once (only its hash is kept): store it now.",
        f"  {issued.value}",
    ]


@app.command("create")
def create_secret(
    client_id: ClientIdArgument,
    expires_after: Annotated[timedelta, _expires_after("Validity, whole hours or days: 8h to the org's maximum.")],
    org_id: OrgOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Add a secret (createOrgSecret; at most 2 per account). The account's other secret then expires within 7
    days. The secret is printed once."""
    hours = whole_hours(expires_after, "--expires-after")

    async def work(op: Operation) -> Output:
        org = await org_of(op, client_id, org_id)
        issued = await op.accounts.create_secret_for_org(SYSTEM, org, client_id, hours)
        return Output(to_jsonable(issued_secret_schema(issued)), "\n".join(issued_lines(client_id, issued)))

    emit(operate(database_url, config_file, work), as_json)


@app.command("delete")
def delete_secret(
    client_id: ClientIdArgument,
    secret_id: Annotated[str, typer.Argument(help="The secret's id.")],
    org_id: OrgOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Delete a secret (deleteOrgSecret); the tokens it minted are revoked with it."""

    async def work(op: Operation) -> Output:
        await op.accounts.delete_secret_for_org(SYSTEM, await org_of(op, client_id, org_id), client_id, secret_id)
        return Output(
            {"clientId": client_id, "secretId": secret_id, "deleted": True},
            f"Deleted secret {secret_id} of {client_id}; the tokens it minted are revoked.",
        )

    emit(operate(database_url, config_file, work), as_json)


@app.command("expiring")
def expiring_secrets(
    within: Annotated[
        timedelta,
        typer.Option("--within", parser=duration, metavar="DURATION", help="How far ahead to look: 7d, 12h, 30m."),
    ],
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """The secrets of every organization that expire within DURATION, or have expired, soonest first."""

    async def work(op: Operation) -> Output:
        now = op.clock.now()
        found = await op.accounts.expiring_secrets(SYSTEM, now + within)
        results = [
            {
                "orgId": account.org_id,
                "clientId": account.client_id,
                "name": account.name,
                **secret_schema(secret),
                "expired": secret.expires_at <= now,
            }
            for secret, account in found
        ]
        rows = [
            [
                account.org_id,
                account.client_id,
                account.name,
                secret.id,
                masked(secret),
                secret.expires_at,
                "expired" if secret.expires_at <= now else "expiring",
                secret.last_used_at,
            ]
            for secret, account in found
        ]
        return Output(
            {"results": results, "totalCount": len(results)},
            table(
                ["ORG ID", "CLIENT ID", "NAME", "SECRET ID", "SECRET", "EXPIRES", "STATUS", "LAST USED"],
                rows,
                empty=f"no secret expires by {timestamp(now + within)}",
            ),
        )

    emit(operate(database_url, config_file, work), as_json)


@app.command("rotate")
def rotate_secret(
    client_id: ClientIdArgument,
    finish: Annotated[
        bool, typer.Option("--finish", help="Delete the older secrets, once clients use the newest.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --finish: delete even an older secret still in recent use.")
    ] = False,
    recent: Annotated[
        timedelta,
        typer.Option(
            "--recent",
            parser=duration,
            metavar="DURATION",
            help="With --finish: how far back a secret's use counts as recent traffic.",
        ),
    ] = timedelta(hours=24),
    expires_after: Annotated[
        timedelta | None,
        _expires_after("The new secret's validity (default: the current secret's, within the org's bounds)."),
    ] = None,
    org_id: OrgOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Start a zero-downtime rotation: a new secret, printed once, while the current one keeps working (for at most
    7 more days). Then, once every client uses the new secret, finish it with --finish."""
    if finish and expires_after is not None:
        raise typer.BadParameter("--expires-after makes a new secret; --finish deletes old ones", param_hint="--finish")
    if force and not finish:
        raise typer.BadParameter("--force only applies to --finish", param_hint="--force")
    hours = None if expires_after is None else whole_hours(expires_after, "--expires-after")

    async def work(op: Operation) -> Output:
        org = await org_of(op, client_id, org_id)
        if finish:
            return await _finish(op, org, client_id, recent=recent, force=force)
        return await _start(op, org, client_id, hours)

    emit(operate(database_url, config_file, work), as_json)


async def _start(op: Operation, org_id: str, client_id: str, hours: int | None) -> Output:
    view = await op.accounts.get_for_org(SYSTEM, org_id, client_id)
    if hours is None:
        hours = await _same_validity(op, org_id, view.secrets)
    try:
        issued = await op.accounts.create_secret_for_org(SYSTEM, org_id, client_id, hours)
    except MaxSecretsPerServiceAccountExceeded as full:
        raise Refused(
            f"{full.detail} ({full.error_code}): finish the rotation in progress first: "
            f"atlas-sa secrets rotate {client_id} --finish"
        ) from None
    older = [s for s in (await op.accounts.get_for_org(SYSTEM, org_id, client_id)).secrets if s.id != issued.secret.id]
    finish = f"atlas-sa secrets rotate {client_id} --finish"
    lines = issued_lines(client_id, issued)
    for secret in older:
        lines.append(
            f"The current secret {secret.id} ({masked(secret)}) keeps working until {timestamp(secret.expires_at)}."
        )
    lines += [
        "",
        "Next:",
        "  1. Give every client of this account the new secret (Terraform: the provider's client_secret; then",
        "     terraform plan or apply, which uses it).",
        f"  2. Once they use it, delete the old one:  {finish}",
    ]
    document = {
        "clientId": client_id,
        "secret": to_jsonable(issued_secret_schema(issued)),
        "previous": [secret_schema(s) for s in older],
        "next": finish,
    }
    return Output(document, "\n".join(lines))


async def _same_validity(op: Operation, org_id: str, secrets: Sequence[StoredSecret]) -> int:
    """The newest secret's validity in whole hours, within the organization's bounds (the org's maximum without
    one): a rotation keeps the lifetime the account had."""
    org = await op.orgs.require(org_id)
    newest = max(secrets, key=lambda s: s.created_at, default=None)
    if newest is None:
        return org.max_secret_validity_hours
    hours = round((newest.expires_at - newest.created_at) / timedelta(hours=1))
    return max(MIN_SECRET_VALIDITY_HOURS, min(hours, org.max_secret_validity_hours))


async def _finish(op: Operation, org_id: str, client_id: str, *, recent: timedelta, force: bool) -> Output:
    view = await op.accounts.get_for_org(SYSTEM, org_id, client_id)
    if len(view.secrets) < 2:
        return Output(
            {"clientId": client_id, "deleted": [], "kept": [s.id for s in view.secrets]},
            f"Nothing to finish: {client_id} has {len(view.secrets)} secret(s).",
        )
    now = op.clock.now()
    newest = max(view.secrets, key=lambda s: (s.created_at, s.id))
    older = [s for s in view.secrets if s.id != newest.id]
    live = _count_by_secret(await CredentialRepository(op.session).live_tokens(view.account.id, now))
    since = now - recent

    def in_use(secret: StoredSecret) -> bool:
        return live.get(secret.id, 0) > 0 or (secret.last_used_at is not None and secret.last_used_at >= since)

    busy = [s for s in older if in_use(s)]
    if busy and not in_use(newest) and not force:
        described = "; ".join(_use(s, live) for s in busy)
        raise Refused(
            f"the old secret still authenticates recent traffic and the new one {newest.id} none since "
            f"{timestamp(since)}: {described}; switch the clients to the new secret first, or add --force"
        )
    for secret in older:
        await op.accounts.delete_secret_for_org(SYSTEM, org_id, client_id, secret.id)
    lines = [f"Deleted secret {s.id} ({masked(s)}) of {client_id}; the tokens it minted are revoked." for s in older]
    lines.append(f"Kept secret {newest.id} ({masked(newest)}), valid until {timestamp(newest.expires_at)}.")
    if busy:
        lines.append(f"Warning: deleted while in recent use: {'; '.join(_use(s, live) for s in busy)}.")
    return Output({"clientId": client_id, "deleted": [s.id for s in older], "kept": [newest.id]}, "\n".join(lines))


def _count_by_secret(tokens: Sequence[AccessToken]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for token in tokens:
        counts[token.secret_id] = counts.get(token.secret_id, 0) + 1
    return counts


def _use(secret: StoredSecret, live: dict[str, int]) -> str:
    used = secret.last_used_at
    last = f"last used {timestamp(used)}" if used is not None else "never used"
    return f"secret {secret.id} {last}, {live.get(secret.id, 0)} live token(s)"
