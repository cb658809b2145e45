"""Slow clients and graceful shutdown against a real ``atlas-sa serve``: a client that never finishes its headers
or trickles its body is cut off with 408 after the configured timeout; SIGTERM lets a request in flight finish,
then the process exits. Plus the body deadline in-process, on both databases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from atlas_sa.app import create_app
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.settings import Settings
from tests.support.raw import assert_error, basic, connect, first_answer, read_all, split_response
from tests.support.server import ATLAS_SA, LiveServer, Served, live_server

pytestmark = pytest.mark.slow

MASTER_KEY = "slow-client-master-key-012345678"
ENV = {"ATLAS_SA_SECRET_KEY": MASTER_KEY, "ATLAS_SA_HEADER_TIMEOUT": "1", "ATLAS_SA_REQUEST_TIMEOUT": "1.5"}


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return ENV


def assert_408(raw: bytes, seconds: float) -> None:
    assert_error(first_answer(raw), 408, "REQUEST_TIMEOUT", [seconds])


def test_unfinished_headers_are_cut_off(server: LiveServer) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: atlas.test\r\nX-Slow: ")
        for _ in range(3):
            time.sleep(0.2)
            sock.sendall(b"a")  # a slowloris keeps sending, one byte at a time
        raw = read_all(sock)
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed < 6, elapsed
        assert_408(raw, 1)


def test_silent_connection_is_closed(server: LiveServer) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        raw = read_all(sock)
        assert time.monotonic() - started < 4
        assert_408(raw, 1)


def test_trickled_body_is_cut_off(server: LiveServer) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /api/oauth/token HTTP/1.1\r\nHost: atlas.test\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\ngrant_type="
        )
        raw = b""
        sock.settimeout(0.25)
        for _ in range(40):  # up to 10 s of trickling, one byte every 0.25 s
            try:
                sock.sendall(b"c")
            except OSError:
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            raw += chunk
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            raw += read_all(sock)
        elapsed = time.monotonic() - started
        assert 1.4 <= elapsed < 8, elapsed
        assert_408(raw, 1.5)


def test_a_client_still_sending_gets_its_408(server: LiveServer) -> None:
    """RFC 9112 §9.6: a server that closes at once while the client is still sending answers the next bytes with a
    reset, which can make the client's TCP stack drop the response it had not read yet. Closed in stages, the
    connection delivers the 408 whole and keeps taking bytes in for a while."""
    with connect(server) as sock:
        sock.sendall(
            b"POST /api/oauth/token HTTP/1.1\r\nHost: atlas.test\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type="
        )
        started = time.monotonic()
        with contextlib.suppress(OSError):
            while time.monotonic() - started < 2.5:  # well past the 1.5 s deadline, without reading
                sock.sendall(b"c")
                time.sleep(0.02)
        sock.settimeout(5)
        assert_408(read_all(sock), 1.5)
        # The server has sent its FIN but still reads: more bytes are taken in, not answered with a reset (which would
        # fail the second send at the latest).
        for _ in range(5):
            sock.sendall(b"c")
            time.sleep(0.05)


def test_prompt_clients_are_unaffected(server: LiveServer, served: Served) -> None:
    credentials = served.credentials
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for _ in range(3):
            response = client.post(
                "/api/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials["clientId"], credentials["clientSecret"]),
            )
            assert response.status_code == 200
            time.sleep(0.6)  # idle between requests on a kept-alive connection: not a header timeout
        assert client.get("/healthz").status_code == 200


def test_sigterm_drains_the_request_in_flight(served: Served) -> None:
    credentials = served.credentials
    env = {**ENV, "ATLAS_SA_REQUEST_TIMEOUT": "30"}
    with live_server(served.url, env=env) as server, connect(server) as sock:
        body = b"grant_type=client_credentials"
        sock.sendall(
            b"POST /api/oauth/token HTTP/1.1\r\nHost: atlas.test\r\n"
            + basic(credentials["clientId"], credentials["clientSecret"])
            + b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:5]
        )
        time.sleep(0.3)  # the request is in flight: headers read, body still arriving
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.process.poll() is None, "the server must wait for the request in flight"
        # New connections are no longer accepted once shutdown has begun.
        with pytest.raises(ConnectionRefusedError):
            connect(server).close()
        sock.sendall(body[5:])
        status, _, payload = split_response(read_all(sock))
        assert status == 200, payload
        assert json.loads(payload)["token_type"] == "Bearer"
        # uvicorn exits by re-raising the signal once drained: status -SIGTERM, not a crash or a timeout kill.
        assert server.process.wait(timeout=15) in (0, -signal.SIGTERM)


# --- in-process: the body deadline on both databases ------------------------------------------------------------


async def test_body_deadline_in_process(database_url: str, clock: FrozenClock, db: Database) -> None:
    settings = Settings(database_url=database_url, secret_key=MASTER_KEY, request_timeout=0.3)
    app = create_app(settings, clock=clock, database=db)

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            await asyncio.sleep(0.1)
            yield b"a"
        yield b'"}'

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://atlas.test") as client:
        started = time.monotonic()
        response = await client.post(
            "/api/atlas/v2/orgs",
            content=trickle(),
            headers={"Content-Type": "application/json", "Accept": "application/vnd.atlas.2023-01-01+json"},
        )
        assert time.monotonic() - started < 1.5
    assert response.status_code == 408, response.text
    assert response.json()["errorCode"] == "REQUEST_TIMEOUT"
    assert response.json()["parameters"] == [0.3]
    assert response.headers["connection"] == "close"


def test_default_timeouts() -> None:
    settings = Settings()
    assert settings.request_timeout == 30
    assert settings.header_timeout == 10
    assert Path(ATLAS_SA).exists()
