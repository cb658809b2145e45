"""How long ``POST /api/oauth/token`` takes to refuse a wrong secret, by the kind of client id it names.

An attacker who sees a difference learns which client ids exist or were used lately, so the three kinds must cost
the same: a client id that authenticated a moment ago (in the server's client cache), a well-formed one never seen
(a fresh random id per request), and a malformed one. The requests are interleaved, one of each kind per round in
a random order, on one keep-alive connection, so a slow second on a shared machine lands on every kind alike.

Brute-force protection and rate limits are switched off for the run: they would lock the address out after a few
dozen failures (their work on a failure is the same for every kind of id, and ``tests/auth/test_equal_work.py``
counts it). Usage::

    .venv/bin/python bench/timing.py                        # SQLite, 2000 requests per kind
    .venv/bin/python bench/timing.py --backend postgresql --requests 3000
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench import BIN, MASTER_KEY, database, free_port, server
from bench.seed import seed

KINDS = ("known, seen recently", "never seen", "malformed")


def env() -> dict[str, str]:
    return {
        "ATLAS_SA_SECRET_KEY": MASTER_KEY,
        "ATLAS_SA_LOG_LEVEL": "warning",
        "ATLAS_SA_ACCESS_LOG": "false",
        "ATLAS_SA_RATE_LIMITS_ENABLED": "false",
        "ATLAS_SA_AUTH_THROTTLE_ENABLED": "false",
    }


def client_id(kind: str, known: str) -> str:
    if kind == KINDS[0]:
        return known
    if kind == KINDS[1]:
        return "mdb_sa_id_" + secrets.token_hex(12)
    return "not-a-client-id-" + secrets.token_hex(6)


def measure(base: str, credential: dict[str, str], requests: int) -> dict[str, list[float]]:
    wrong = "mdb_sa_sk_" + secrets.token_urlsafe(30)
    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with httpx.Client(base_url=base, timeout=10) as http:
        form = {"grant_type": "client_credentials"}
        # The known id authenticates once, as its owner would, so it is in the client cache.
        ok = http.post("/api/oauth/token", data=form, auth=(credential["clientId"], credential["clientSecret"]))
        ok.raise_for_status()
        for round_number in range(requests + 50):
            # A random order in every round, so no kind always follows the same one.
            for kind in random.sample(KINDS, len(KINDS)):
                auth = (client_id(kind, credential["clientId"]), wrong)
                started = time.perf_counter()
                response = http.post("/api/oauth/token", data=form, auth=auth)
                elapsed = time.perf_counter() - started
                if response.status_code != 401:
                    raise RuntimeError(f"{kind}: expected 401, got {response.status_code} {response.text}")
                if round_number >= 50:  # the first rounds warm up connections, caches and the interpreter
                    timings[kind].append(elapsed * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per kind of client id")
    parser.add_argument("--accounts", type=int, default=100)
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as workdir:
        url = stack.enter_context(database(args.backend, Path(workdir)))
        subprocess.run(
            [str(BIN / "atlas-sa"), "db", "upgrade", "--database-url", url],
            check=True,
            capture_output=True,
            env={**os.environ, **env()},
        )
        credential = seed(url, args.accounts, MASTER_KEY)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [str(BIN / "atlas-sa"), "serve", "--port", str(port), "--database-url", url]
        stack.enter_context(server(command, env(), f"{base}/healthz"))
        timings = measure(base, credential, args.requests)
    print(f"wrong secret at POST /api/oauth/token, {args.backend}, {args.requests} requests per kind, interleaved")
    print(f"| {'client id':<22} | {'median ms':>9} | {'p90 ms':>7} |")
    print(f"|{'-' * 24}|{'-' * 11}|{'-' * 9}|")
    for kind, values in timings.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"| {kind:<22} | {statistics.median(values):>9.2f} | {p90:>7.2f} |")


if __name__ == "__main__":
    main()
