"""CPU per write, in-process: ``updateOrgServiceAccount`` (a PATCH of the description) through
``httpx.ASGITransport`` on a SQLite file, timed with ``time.process_time`` (this process: the client's share
included, the same before and after a change). Each write commits once and so, on SQLite, appends one change-log
entry (``atlas_sa.changes``): the path that change-log pruning is on.

Meant to be run by each tree's interpreter in turn, so that one machine's slow minute lands on both:

    for i in 1 2 3; do for tree in /work/main /work/wt/NAME; do
        $tree/.venv/bin/python bench/write_cpu.py --label $tree; done; done

Prints the median CPU ms per write of ``--rounds`` rounds of ``--requests`` writes each. ``--direct``: each write a
unit of work that only names one account's key (``changes.stage``) and commits, no HTTP: the change log's share
of a write, measured with less around it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.client import basic

from atlas_sa import changes
from atlas_sa.app import create_app
from atlas_sa.kit.db import Database
from atlas_sa.migrations import upgrade
from atlas_sa.settings import Settings
from bench.seed import seed

MASTER_KEY = "bench-master-key-" + "0123456789abcdef"
ACCEPT = "application/vnd.atlas.2025-03-12+json"


async def measure(database_url: str, rounds: int, requests: int) -> list[float]:
    upgrade(database_url)
    credential = seed(database_url, 1, MASTER_KEY)
    settings = Settings(database_url=database_url, secret_key=MASTER_KEY, access_log=False, rate_limits_enabled=False)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench.test", headers={"Accept": ACCEPT}) as c:
        token = await c.post(
            "/api/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(credential["clientId"], credential["clientSecret"]),
        )
        c.headers["Authorization"] = "Bearer " + token.json()["access_token"]
        path = f"/api/atlas/v2/orgs/{credential['orgId']}/serviceAccounts/{credential['clientId']}"
        serial = 0

        async def write() -> None:
            nonlocal serial
            serial += 1
            answer = await c.patch(path, json={"description": f"benchmark account {serial}"})
            assert answer.status_code == 200, answer.text

        for _ in range(50):  # warm-up, and past the first pruning of a fresh log
            await write()
        samples = []
        for _ in range(rounds):
            start = time.process_time()
            for _ in range(requests):
                await write()
            samples.append((time.process_time() - start) * 1000 / requests)
    return samples


async def measure_direct(database_url: str, rounds: int, requests: int) -> list[float]:
    upgrade(database_url)
    db = Database(database_url)
    serial = 0

    async def write() -> None:
        nonlocal serial
        serial += 1
        async with db.unit_of_work() as session:
            changes.stage(session, [changes.account_key(str(serial))])

    try:
        for _ in range(1100):  # a log as full as it stays
            await write()
        samples = []
        for _ in range(rounds):
            start = time.process_time()
            for _ in range(requests):
                await write()
            samples.append((time.process_time() - start) * 1000 / requests)
    finally:
        await db.dispose()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--label", default="")
    parser.add_argument("--direct", action="store_true", help="commits naming one key each, without HTTP")
    args = parser.parse_args()
    run = measure_direct if args.direct else measure
    with tempfile.TemporaryDirectory() as folder:
        samples = asyncio.run(run(f"sqlite:///{folder}/bench.db", args.rounds, args.requests))
    runs = ", ".join(f"{sample:.3f}" for sample in samples)
    kind = "direct commit" if args.direct else "update"
    print(f"{args.label} {kind}: median {statistics.median(samples):.3f} ms CPU/write ({runs})")


if __name__ == "__main__":
    main()
