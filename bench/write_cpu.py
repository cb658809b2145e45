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
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from atlas_sa import changes
from atlas_sa.kit.db import Database
from atlas_sa.migrations import upgrade
from bench.inprocess import seeded_client


async def measure(database_url: str, rounds: int, requests: int) -> list[float]:
    async with seeded_client(database_url, 1) as (c, credential):
        path = f"/api/atlas/v2/orgs/{credential['orgId']}/serviceAccounts/{credential['clientId']}"

        async def write(serial: int) -> None:
            answer = await c.patch(path, json={"description": f"benchmark account {serial}"})
            assert answer.status_code == 200, answer.text

        return await timed(write, 50, rounds, requests)


async def measure_direct(database_url: str, rounds: int, requests: int) -> list[float]:
    upgrade(database_url)
    db = Database(database_url)

    async def write(serial: int) -> None:
        async with db.unit_of_work() as session:
            changes.stage(session, [changes.account_key(str(serial))])

    try:
        return await timed(write, 1100, rounds, requests)  # warmed up to a log as full as it stays
    finally:
        await db.dispose()


async def timed(write: Callable[[int], Awaitable[None]], warm_up: int, rounds: int, requests: int) -> list[float]:
    """CPU ms per ``write`` (given a serial number), per round, after ``warm_up`` writes."""
    serials = itertools.count()
    for _ in range(warm_up):
        await write(next(serials))
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(requests):
            await write(next(serials))
        samples.append((time.process_time() - start) * 1000 / requests)
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
