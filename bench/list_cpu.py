"""CPU per service-account list page, in-process: the app behind ``httpx.ASGITransport`` on a seeded database.

Seeds N accounts (``bench.seed``: one secret each, 200 per organization), takes a token for the seeded owner, then
times ``GET …/serviceAccounts?itemsPerPage=100`` on the org path and on the project path with ``time.process_time``
(CPU of this process: the client's share included, the same before and after a change). Prints the median CPU ms per
request of several rounds; ``--profile org|project`` prints cProfile's top functions for that list instead.

    .venv/bin/python bench/list_cpu.py [--count 400] [--rounds 7] [--requests 200] [--backend sqlite|postgresql]
                                       [--database-url URL] [--profile org|project]

``--backend postgresql`` makes a database on the test server (``tests/support/databases.py``) and drops it after.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.databases import create_postgres_database, drop_postgres_database

from bench.inprocess import seeded_client


async def measure(database_url: str, count: int, rounds: int, requests: int, profile: str | None) -> None:
    async with seeded_client(database_url, count) as (c, credential):
        paths = {
            "org": f"/api/atlas/v2/orgs/{credential['orgId']}/serviceAccounts?itemsPerPage=100",
            "project": f"/api/atlas/v2/groups/{credential['groupId']}/serviceAccounts?itemsPerPage=100",
        }
        for name, path in paths.items():
            first = await c.get(path)
            assert first.status_code == 200, first.text
            assert len(first.json()["results"]) == 100, name
            for _ in range(20):
                await c.get(path)
            if profile:
                if name != profile:
                    continue
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(requests):
                    await c.get(path)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
                continue
            samples = []
            for _ in range(rounds):
                start = time.process_time()
                for _ in range(requests):
                    await c.get(path)
                samples.append((time.process_time() - start) * 1000 / requests)
            runs = ", ".join(f"{s:.2f}" for s in samples)
            print(f"{name}: median {statistics.median(samples):.2f} ms CPU/request ({runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--database-url", help="an empty database instead of a new one of --backend")
    parser.add_argument("--profile", choices=["org", "project"], help="profile this list instead of timing both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.database_url or args.backend == "sqlite":
            url = args.database_url or f"sqlite:///{folder}/bench.db"
            asyncio.run(measure(url, args.count, args.rounds, args.requests, args.profile))
            return
        url = create_postgres_database()
        try:
            asyncio.run(measure(url, args.count, args.rounds, args.requests, args.profile))
        finally:
            drop_postgres_database(url)


if __name__ == "__main__":
    main()
