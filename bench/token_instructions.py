"""Instructions per token under callgrind: the server's own work, without the shared machine's noise in CPU time.

Each variant (``bench/without.py``: ``nothing``, ``metrics``, ``observer``, ``mint-write``) is started under
``valgrind --tool=callgrind`` with instrumentation off (start-up is not counted) and ``PYTHONHASHSEED=0``; after a
warm-up, instrumentation is switched on for exactly ``--tokens`` token requests at ``--concurrency``, and the
instructions counted (all threads, user space only: no system calls, no cache misses) are divided by the tokens.
What still scatters (~1.5% between runs of one variant) is the group commit's batching, which depends on timing.

    bench/token_instructions.py nothing observer metrics --repeat 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench import BIN, MASTER_KEY, ROOT, atlas_env, database, free_port, server
from bench.seed import seed


async def tokens(base: str, credential: dict[str, str], count: int, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                response = await client.post(
                    "/api/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(credential["clientId"], credential["clientSecret"]),
                )
                response.raise_for_status()

        await asyncio.gather(*(one() for _ in range(count)))


def instructions(variant: str, args: argparse.Namespace, workdir: Path) -> float:
    """Instructions per token of one server started through ``bench/without.py`` with ``BENCH_WITHOUT=variant``."""
    with database("sqlite", workdir) as url:
        upgrade = [str(BIN / "atlas-sa"), "db", "upgrade", "--database-url", url]
        subprocess.run(upgrade, check=True, capture_output=True, env={**os.environ, **atlas_env()})
        credential = seed(url, 100, MASTER_KEY)
        port, out = free_port(), workdir / f"callgrind-{variant}-{time.monotonic_ns()}.out"
        command = [
            *("valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"),
            *(str(BIN / "python"), str(ROOT / "bench" / "without.py"), "serve"),
            *("--port", str(port), "--database-url", url),
        ]
        base = f"http://127.0.0.1:{port}"
        # Start-up under valgrind takes a minute or more.
        env = {**atlas_env(), "BENCH_WITHOUT": variant, "PYTHONHASHSEED": "0"}
        with server(command, env, f"{base}/healthz", 600) as process:
            asyncio.run(tokens(base, credential, 50, args.concurrency))
            control = ["callgrind_control"]
            subprocess.run([*control, "--instr=on", str(process.pid)], check=True, capture_output=True)
            asyncio.run(tokens(base, credential, args.tokens, args.concurrency))
            subprocess.run([*control, "--instr=off", str(process.pid)], check=True, capture_output=True)
            subprocess.run([*control, "--dump", str(process.pid)], check=True, capture_output=True)
        counted = max(
            int(line.split()[1])
            for dump in workdir.glob(f"{out.name}*")
            for line in dump.read_text().splitlines()
            if line.startswith(("summary:", "totals:"))
        )
        return counted / args.tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each variant, in turn")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atlas-sa-instructions-") as tmp:
        for _ in range(args.repeat):
            for variant in args.variants:
                print(
                    f"{variant:<12} {instructions(variant, args, Path(tmp)):>12,.0f} instructions per token", flush=True
                )


if __name__ == "__main__":
    main()
