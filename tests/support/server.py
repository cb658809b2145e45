"""A real ``atlas-sa serve`` process on a loopback port, for tests that need a server over TCP, and its log."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ATLAS_SA = str(Path(sys.executable).parent / "atlas-sa")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    base_url: str
    output: bytearray = field(default_factory=bytearray)
    reader: threading.Thread | None = None

    def drain(self) -> None:
        """Read what the server writes (stdout and stderr, on one pipe) as it writes it: a pipe left full would block
        the server on its next log line."""
        pipe = self.process.stdout
        assert pipe is not None

        def read() -> None:
            while chunk := pipe.read1(65536):
                self.output.extend(chunk)

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=30)

    def mint(self, client_id: str, secret: str, **kwargs: Any) -> httpx.Response:
        """``POST /api/oauth/token``: the client-credentials grant, the secret in HTTP Basic."""
        grant = {"grant_type": "client_credentials"}
        return httpx.post(
            f"{self.base_url}/api/oauth/token", data=grant, auth=(client_id, secret), timeout=10, **kwargs
        )

    def token(self, client_id: str, secret: str) -> str:
        """An access token, which the server must grant."""
        response = self.mint(client_id, secret)
        assert response.status_code == 200, response.text
        access_token: str = response.json()["access_token"]
        return access_token

    def log(self) -> str:
        """Stop the server (if it still runs); everything it wrote."""
        self.stop()
        if self.reader is not None:
            self.reader.join(timeout=10)
        return self.output.decode()


def trusting(ca: Path) -> ssl.SSLContext:
    """A client TLS context that verifies (certificate chain and host name) against ``ca`` alone."""
    return ssl.create_default_context(cafile=ca)


@contextmanager
def live_server(
    database_url: str,
    *,
    env: dict[str, str] | None = None,
    port: int | None = None,
    args: Sequence[str] = (),
    ca: Path | None = None,
    cwd: Path | None = None,
) -> Iterator[LiveServer]:
    """``ca``: the server speaks HTTPS, and ``base_url``, the health check included, trusts this CA file (which a
    development server may make as it starts)."""
    port = port or free_port()
    process = subprocess.Popen(
        [ATLAS_SA, "serve", "--port", str(port), "--database-url", database_url, *args],
        env={**os.environ, "ATLAS_SA_LOG_LEVEL": "warning", **(env or {})},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(process, f"{'https' if ca else 'http'}://127.0.0.1:{port}")
    server.drain()
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}: {server.log()}")
            try:
                verify = trusting(ca) if ca else True
                if httpx.get(f"{server.base_url}/healthz", timeout=1, verify=verify).status_code == 200:
                    break
            except (httpx.TransportError, FileNotFoundError):  # not listening yet, or its CA not made yet
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("server did not become healthy in 30 s")
            time.sleep(0.1)
        yield server
    finally:
        server.log()
        if process.stdout:
            process.stdout.close()


def bootstrap(database_url: str, env: dict[str, str]) -> dict[str, str]:
    """``atlas-sa bootstrap --json`` as a user runs it: the first org's credentials, printed once."""
    result = subprocess.run(
        [ATLAS_SA, "bootstrap", "--database-url", database_url, "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    credentials: dict[str, str] = json.loads(result.stdout)
    return credentials


@dataclass(frozen=True)
class Served:
    """A SQLite database made by ``atlas-sa bootstrap`` and the credentials it printed."""

    url: str
    credentials: dict[str, str]
    env: dict[str, str]
