"""The database never holds a secret in recoverable form: only its keyed hash and its last four characters."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from atlas_sa.kit.db import Database
from atlas_sa.models import Base, ServiceAccountSecret
from tests.service_accounts.support import create_org_account, org_account
from tests.support.client import AtlasClient


async def _database_text(db: Database, database_url: str) -> bytes:
    """Everything the database holds: the SQLite file and its write-ahead log byte for byte, or every PostgreSQL
    row of every table as text."""
    if db.is_sqlite:
        path = Path(str(make_url(database_url).database))
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    chunks: list[bytes] = []
    async with db.unit_of_work(write=False) as session:
        for table in Base.metadata.sorted_tables:
            rows = await session.execute(text(f'SELECT CAST(t.* AS text) FROM "{table.name}" AS t'))  # noqa: S608 - table names come from our own metadata
            chunks.extend(str(row[0]).encode() for row in rows)
    return b"\n".join(chunks)


async def test_issued_secrets_are_not_in_the_database(
    client: AtlasClient, db: Database, database_url: str, app: object
) -> None:
    org_id = await client.create_org()
    account = await create_org_account(client, org_id)
    path = org_account(org_id, account["clientId"])
    second = (await client.post(f"{path}/secrets", json={"secretExpiresAfterHours": 24})).json()
    issued = [account["secrets"][0]["secret"], second["secret"]]

    stored = await _database_text(db, database_url)
    keys = app.state.atlas.keys  # type: ignore[attr-defined]
    async with db.unit_of_work(write=False) as session:
        rows = {row.id: row for row in (await session.execute(select(ServiceAccountSecret))).scalars()}
    # The search is not vacuous: the rows it must find are there.
    assert account["clientId"].encode() in stored
    for value, secret_id in zip(issued, [account["secrets"][0]["id"], second["id"]], strict=True):
        random_part = value.removeprefix("mdb_sa_sk_")
        assert value.encode() not in stored
        assert random_part.encode() not in stored
        assert random_part[:20].encode() not in stored
        row = rows[secret_id]
        assert row.secret_hash.encode() in stored
        assert keys.verify_secret(value, row.secret_hash)
        assert not keys.verify_secret(value + "x", row.secret_hash)
        assert row.last_four == value[-4:]
