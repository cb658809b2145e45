"""Fill a database with N service accounts for the benchmarks, fast (bulk inserts), and print one credential.

Accounts are spread over organizations of 200 (Atlas's cap per org), one project each; every account has one
secret. The printed credential belongs to an ORG_OWNER account in the last organization.
"""

from __future__ import annotations

import argparse
import json
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, insert, text

from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.db import parse_database_url, sync_url
from atlas_sa.kit.ids import new_client_id, new_object_id
from atlas_sa.models import Organization, Project, ProjectAssignment, ServiceAccount, ServiceAccountSecret

PER_ORG = 200
BATCH = 5000


def seed(database_url: str, count: int, master_key: str) -> dict[str, str]:
    keys = ServerKeys.from_master(master_key)
    engine = create_engine(sync_url(parse_database_url(database_url)))
    now = datetime.now(UTC).replace(microsecond=0)
    expires = now + timedelta(days=365)
    orgs, projects, accounts, secret_rows, assignments = [], [], [], [], []
    credential: dict[str, str] = {}
    for index in range(count):
        if index % PER_ORG == 0:
            org_id, project_id = new_object_id(), new_object_id()
            orgs.append(
                {
                    "id": org_id,
                    "name": f"org-{index // PER_ORG}",
                    "created_at": now,
                    "api_access_list_required": False,
                    "max_secret_validity_hours": 8760,
                }
            )
            projects.append({"id": project_id, "org_id": org_id, "name": "project", "created_at": now})
        account_id = new_object_id()
        client_id = new_client_id(account_id)
        secret = "mdb_sa_sk_" + secrets.token_urlsafe(30)
        accounts.append(
            {
                "id": account_id,
                "client_id": client_id,
                "org_id": org_id,
                "name": f"sa {index}",
                "description": "benchmark account",
                "org_roles": ["ORG_OWNER"],
                "system_managed": False,
                "created_at": now,
            }
        )
        secret_rows.append(
            {
                "id": new_object_id(),
                "service_account_id": account_id,
                "secret_hash": keys.hash_secret(secret),
                "last_four": secret[-4:],
                "created_at": now,
                "expires_at": expires,
                "last_used_at": None,
            }
        )
        assignments.append(
            {"service_account_id": account_id, "project_id": project_id, "roles": ["GROUP_OWNER"], "created_at": now}
        )
        credential = {"orgId": org_id, "groupId": project_id, "clientId": client_id, "clientSecret": secret}
    with engine.begin() as connection:
        for table, rows in (
            (Organization, orgs),
            (Project, projects),
            (ServiceAccount, accounts),
            (ServiceAccountSecret, secret_rows),
            (ProjectAssignment, assignments),
        ):
            for start in range(0, len(rows), BATCH):
                connection.execute(insert(table), rows[start : start + BATCH])
    # Planner statistics, as autovacuum (or sqlite's optimizer) would gather them soon after a bulk load in
    # production; without them PostgreSQL guessed 14,000 rows for a page's 100 secrets and scanned the whole table
    # (autovacuum is off on the benchmark machine's PostgreSQL).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()
    return credential


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--master-key", required=True)
    args = parser.parse_args()
    print(json.dumps(seed(args.database_url, args.count, args.master_key)))


if __name__ == "__main__":
    main()
