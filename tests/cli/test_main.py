"""The ``atlas-sa`` command as a user runs it: a real process, a real port, a real database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from atlas_sa import __version__
from atlas_sa.cli.serving import bind_socket
from atlas_sa.migrations import HEAD
from tests.support.client import accept
from tests.support.server import ATLAS_SA, LiveServer, free_port, live_server


def run(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ATLAS_SA, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env} if env else None,
        cwd=cwd,
    )


def bearer_headers(server: LiveServer, client_id: str, secret: str) -> dict[str, str]:
    return {**accept("2023-01-01"), "Authorization": f"Bearer {server.token(client_id, secret)}"}


def test_serve_migrates_and_answers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with live_server(url) as server:
        anonymous = httpx.post(
            f"{server.base_url}/api/atlas/v2/orgs", json={"name": "acme"}, headers=accept("2023-01-01")
        )
        assert anonymous.status_code == 401
        made = json.loads(run("bootstrap", "--database-url", url, "--json", "--org-name", "acme").stdout)
        headers = bearer_headers(server, made["clientId"], made["clientSecret"])
        got = httpx.get(f"{server.base_url}/api/atlas/v2/orgs/{made['orgId']}", headers=headers)
        assert got.json()["name"] == "acme"
        assert httpx.get(f"{server.base_url}/readyz").json()["database"] == "ok"
    assert (tmp_path / "fresh.db").exists()


def test_serve_on_postgresql(own_postgres: str) -> None:
    # Beside a PostgreSQL database there is no file to keep a development key in: both processes get one.
    env = {"ATLAS_SA_SECRET_KEY": "cli-test-master-key-0123456789"}
    with live_server(own_postgres, env=env) as server:
        made = json.loads(run("bootstrap", "--database-url", own_postgres, "--json", env=env).stdout)
        headers = bearer_headers(server, made["clientId"], made["clientSecret"])
        response = httpx.get(f"{server.base_url}/api/atlas/v2/orgs", headers=headers)
        assert response.status_code == 200
        assert [o["id"] for o in response.json()["results"]] == [made["orgId"]]


def test_sigterm_shuts_down_gracefully(tmp_path: Path) -> None:
    with live_server(f"sqlite:///{tmp_path / 'a.db'}") as server:
        # uvicorn drains, then re-raises the signal it caught, so the exit status names SIGTERM.
        assert server.stop() in (0, -signal.SIGTERM)
        assert "Traceback" not in server.log()


def test_busy_port_is_one_line(tmp_path: Path) -> None:
    port = free_port()
    with live_server(f"sqlite:///{tmp_path / 'a.db'}", port=port):
        result = run("serve", "--port", str(port), "--database-url", f"sqlite:///{tmp_path / 'b.db'}")
    assert result.returncode != 0
    assert result.stderr.strip() == f"atlas-sa: error: port {port} on 127.0.0.1 is already in use"


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("mysql://root@localhost/db", "unsupported database URL scheme"),
        ("::::", "cannot parse database URL"),
        ("postgresql+psycopg://nobody:hunter2@127.0.0.1:1/x", "cannot use database"),
    ],
)
def test_bad_database_url_is_one_line(url: str, needle: str) -> None:
    env = {"ATLAS_SA_SECRET_KEY": "cli-test-master-key-0123456789"}
    result = run("serve", "--database-url", url, "--port", str(free_port()), env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr, "a password must never be printed"


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    # Asking about a database that is not there creates nothing.
    missing = run("db", "current", "--database-url", url)
    assert (missing.returncode, missing.stderr) == (1, f"atlas-sa: error: no database at {url}\n")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "c.db").touch()
    assert run("db", "current", "--database-url", url).stdout.strip() == "(empty database)"
    upgraded = run("db", "upgrade", "--database-url", url)
    assert upgraded.returncode == 0, upgraded.stderr
    current = run("db", "current", "--database-url", url).stdout.strip()
    assert current == HEAD


def test_database_url_from_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = subprocess.run(
        [ATLAS_SA, "db", "upgrade"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "ATLAS_SA_DATABASE_URL": url},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env.db").exists()


async def test_accepted_connections_have_nagle_off() -> None:
    # A response goes out in two writes (head, body); with Nagle on, the body of every keep-alive response waited
    # for the client's delayed ACK (~40 ms) under the asyncio loop.
    listener = bind_socket("127.0.0.1", 0)
    accepted: asyncio.Future[socket.socket] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(transport.get_extra_info("socket"))

    server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
    try:
        _reader, writer = await asyncio.open_connection(*listener.getsockname())
        sock = await asyncio.wait_for(accepted, 5)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    # The database and the -wal and -shm files SQLite makes beside it hold secret hashes and sealed keys: 0600 like
    # the key file, whatever the umask leaves.
    path = tmp_path / "private.db"
    upgraded = run("db", "upgrade", "--database-url", f"sqlite:///{path}")
    assert upgraded.returncode == 0, upgraded.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.unlink()
    with live_server(f"sqlite:///{path}") as server:
        assert httpx.get(f"{server.base_url}/readyz").json()["database"] == "ok"  # a connection is open
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert files == dict.fromkeys(("private.db", "private.db-wal", "private.db-shm", "private.db.key"), 0o600)


def test_version() -> None:
    for args in (["--version"], ["version"]):
        result = run(*args)
        assert (result.returncode, result.stdout, result.stderr) == (0, f"{__version__}\n", "")


def test_serve_names_its_database_and_the_next_step(tmp_path: Path) -> None:
    # A relative path, as the default: the server names the file absolutely, so a bootstrap run from another folder
    # can be pointed at it.
    url = f"sqlite:///{tmp_path / 'atlas-sa.db'}"
    hint = "No organization yet: create the first one and its credentials with\n"
    hint += f"  atlas-sa bootstrap --database-url {url}\n"
    with live_server("sqlite:///./atlas-sa.db", cwd=tmp_path) as server:
        said = server.log()
    assert f"serving on {server.base_url} with the database {url}\n" in said
    assert hint in said
    assert run("bootstrap", "--database-url", url, "--json").returncode == 0
    with live_server(url) as server:
        said = server.log()
    assert f"with the database {url}\n" in said
    assert "No organization yet" not in said
