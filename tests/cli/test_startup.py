"""What an ``atlas-sa`` process imports: ``serve`` alone loads the web stack (FastAPI, uvicorn, the app and its
endpoint modules); every other command calls the services directly and starts without it, half a second of CPU
less per process. Each check runs the console script as a user does, under ``python -X
importtime``, and reads the modules the process really imported from its own report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from atlas_sa.migrations import upgrade
from tests.support.server import ATLAS_SA

KEY = "cli-startup-master-key-0123456789"
SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.toml"
# One line per module the interpreter imported: "import time: <self> | <cumulative> | <indent><module>".
_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", re.MULTILINE)


def imported(*args: str, url: str | None = None, code: int = 0) -> tuple[set[str], str]:
    """The modules ``atlas-sa ARGS`` imported, and what it printed on stdout."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", ATLAS_SA, *args, *(("--database-url", url) if url else ())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "ATLAS_SA_SECRET_KEY": KEY},
    )
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr[-2000:])
    modules = set(_IMPORTED.findall(done.stderr))
    assert "atlas_sa.cli.main" in modules, "the report lists nothing: the check would pass for nothing"
    return modules, done.stdout


def web_stack(modules: set[str]) -> list[str]:
    """What only ``serve`` may import."""
    return sorted(
        name
        for name in modules
        if name.split(".")[0] in {"fastapi", "uvicorn"}
        or name in {"atlas_sa.app", "atlas_sa.cli.serving"}
        or name.endswith(".endpoints")
    )


def test_serve_alone_imports_the_web_stack(tmp_path: Path) -> None:
    # A certificate that does not exist stops serve after it has loaded everything it serves with (exit code 2).
    modules, _ = imported(
        "serve", "--tls-cert", str(tmp_path / "none.pem"), "--tls-key", str(tmp_path / "none.pem"), code=2
    )
    assert {"fastapi", "uvicorn", "atlas_sa.app", "atlas_sa.service_accounts.endpoints"} <= modules


def test_other_commands_start_without_the_web_stack(own_database: str) -> None:
    upgrade(own_database)
    url = own_database
    made, _ = imported("seed", "apply", str(SEED), url=url)
    loaded = {"seed apply": made}
    modules, out = imported("bootstrap", "--json", url=url)
    loaded["bootstrap"] = modules
    credentials = json.loads(out)
    org, client_id = credentials["orgId"], credentials["clientId"]
    for args in (
        ("orgs", "list"),
        ("projects", "list", "--org", org),
        ("accounts", "list", "--org", org),
        ("secrets", "expiring", "--within", "7d"),
        ("access-lists", "list", client_id),
        ("api-keys", "list", "--org", org),
        ("events", "list", "--org", org),
        ("tokens", "revoke", "--client-id", client_id),
        ("config", "show"),
        ("keys", "rotate"),
        ("db", "current"),
    ):
        loaded[" ".join(args)], _ = imported(*args, url=url)
    loaded["--version"], _ = imported("--version")
    assert {command: web_stack(modules) for command, modules in loaded.items() if web_stack(modules)} == {}
