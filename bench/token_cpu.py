"""CPU per token, A against B: the token endpoint of several servers measured in alternation on a shared machine.

Each server runs pinned to one core (``taskset``), wrk to the other; every round runs wrk against each server in
turn and reads the server's ``utime + stime`` (``/proc/<pid>/stat``) before and after, so a slow minute lands on
every server alike. Prints, per server, the median CPU milliseconds per token and the median tokens/s.

    bench/token_cpu.py atlas oidc                   # atlas-sa serve (SQLite, 100 accounts) against oidc-provider
    bench/token_cpu.py atlas atlas-pg --rounds 5    # SQLite against PostgreSQL
    bench/token_cpu.py atlas --profile 8            # and a py-spy profile of the first server (8 s under load)

Servers: ``atlas`` (``atlas-sa serve`` on SQLite), ``atlas-pg`` (on PostgreSQL), each with an optional variant:
``atlas:noguard`` (brute-force guard off), ``atlas:mint-write``, ``atlas:metrics``, ``atlas:observer``
(``bench/without.py``: without the mint's database write, without the metric updates, without the request observer
and the metric updates) and ``atlas:nothing`` (as shipped, started through ``bench/without.py`` as they are: the
control to compare them with); ``oidc`` (the node peer),
``floor-uvicorn`` and ``floor-granian`` (``bench/floor_app.py``: parse Basic and the form, one HMAC, one ES256 JWT,
nothing else, on uvicorn with httptools and on granian).
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import bench
from bench.bench import BIN, ROOT, Scenario, basic, free_port, server, start_atlas, start_oidc


def start_floor(stack: ExitStack, kind: str) -> Scenario:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if kind == "uvicorn":
        command = [
            str(BIN / "uvicorn"),
            "bench.floor_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",
            "asyncio",
            "--http",
            "httptools",
        ]
    else:
        command = [
            str(BIN / "granian"),
            "--interface",
            "asgi",
            "--port",
            str(port),
            "--workers",
            "1",
            "--runtime-threads",
            "1",
            "--log-level",
            "warning",
            "--no-ws",
            "bench.floor_app:app",
        ]
    stack.enter_context(server(command, {"PYTHONPATH": str(ROOT)}, f"{base}/healthz"))
    encoded = base64.b64encode(b"mdb_sa_id_000000000000000000000000:floor-secret").decode()
    return Scenario(f"floor {kind}", f"{base}/api/oauth/token", "token.lua", {"BENCH_BASIC": encoded})


def start(stack: ExitStack, name: str, workdir: Path) -> Scenario:
    if name == "oidc":
        scenario = start_oidc(stack)
        scenario.pid = _listener_pid(scenario.url)
        return scenario
    if name.startswith("floor-"):
        scenario = start_floor(stack, name.removeprefix("floor-"))
        scenario.pid = _listener_pid(scenario.url)
        return scenario
    # atlas[-pg][:variant][@checkout]: variant "noguard" (brute-force guard off), or a bench/without.py baseline;
    # @checkout: the atlas-sa of another checkout's .venv (e.g. main before a change).
    name, _, checkout = name.partition("@")
    if checkout:
        bench.BIN = Path(checkout).resolve() / ".venv" / "bin"
        try:
            return start(stack, name, workdir)
        finally:
            bench.BIN = BIN
    base, _, variant = name.partition(":")
    backend = "postgresql" if base == "atlas-pg" else "sqlite"
    if variant == "noguard":
        os.environ["ATLAS_SA_AUTH_THROTTLE_ENABLED"] = "false"
        try:
            instance = start_atlas(stack, backend, 100, workdir)
        finally:
            del os.environ["ATLAS_SA_AUTH_THROTTLE_ENABLED"]
    else:
        instance = start_atlas(stack, backend, 100, workdir, variant or None)
    return Scenario(
        name + (f"@{Path(bench.BIN).parent.parent.name}" if bench.BIN != BIN else ""),
        f"{instance.base}/api/oauth/token",
        "token.lua",
        {"BENCH_BASIC": basic(instance)},
        instance.process.pid,
    )


def _listener_pid(url: str) -> int:
    # The server process itself (taskset execs it, so the Popen pid would do, but node and granian may fork).
    port = url.split(":")[2].split("/", maxsplit=1)[0]
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split("pid=")[1].split(",")[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("servers", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--profile", type=int, default=0, help="py-spy seconds on the first server (0: none)")
    args = parser.parse_args()
    args.warmup = 2
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="atlas-sa-cpu-") as tmp:
        scenarios = [start(stack, name, Path(tmp)) for name in args.servers]
        bench.interleave(scenarios, args, args.rounds)
        for scenario in scenarios:
            cpu = statistics.median(r.cpu_ms or 0.0 for r in scenario.runs)
            rps = statistics.median(r.rps for r in scenario.runs)
            runs = " ".join(f"{r.cpu_ms:.3f}" for r in scenario.runs if r.cpu_ms is not None)
            print(f"{scenario.name:<20} CPU ms/token {cpu:.3f} ({runs})  tokens/s {rps:.0f}", flush=True)
        if args.profile:
            first = scenarios[0]
            out = ROOT / "bench" / "results" / f"profile-{first.name}.txt"
            out.parent.mkdir(exist_ok=True)
            spy = subprocess.Popen(
                [
                    str(BIN / "py-spy"),
                    "record",
                    "-r",
                    "250",
                    "-d",
                    str(args.profile),
                    "-f",
                    "raw",
                    "-o",
                    str(out),
                    "--pid",
                    str(first.pid),
                ],
                stdout=subprocess.DEVNULL,
            )
            first.run(args, args.profile + 1)
            spy.wait()
            print(f"profile: {out}")


if __name__ == "__main__":
    main()
