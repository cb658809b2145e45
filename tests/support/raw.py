"""Raw HTTP/1.1 over a socket, for tests of what no HTTP client library would send: malformed framing, oversized or
unfinished heads, pipelined requests."""

from __future__ import annotations

import base64
import json
import socket
import struct
from dataclasses import dataclass
from typing import Any

from tests.support.server import LiveServer


def connect(server: LiveServer, timeout: float = 10) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that vanishes does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """The first response of ``raw`` (its body: everything after the head)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def answers(raw: bytes) -> list[Answer]:
    """Every response in ``raw``, one after another, each framed by its Content-Length."""
    found = []
    while raw:
        status, headers, rest = split_response(raw)
        length = int(headers.get("content-length", len(rest)))
        found.append(Answer(status, headers, rest[:length]))
        raw = rest[length:]
    return found


def first_answer(raw: bytes) -> Answer:
    """The first response of ``raw``, its body all that follows the head (a connection the server closed after it)."""
    return Answer(*split_response(raw))


def exchange(server: LiveServer, data: bytes) -> list[Answer]:
    """Send ``data`` on a new connection; every response until the server closes it."""
    with connect(server) as sock:
        sock.sendall(data)
        return answers(read_all(sock))


def assert_quiet(log: str) -> None:
    """No traceback and nothing at ERROR: what a client sends, however broken, is no fault of the server's."""
    assert "Traceback" not in log, log
    assert "ERROR" not in log, log
    assert "unexpected error" not in log, log


def basic(client_id: str, secret: str) -> bytes:
    """An ``Authorization: Basic`` header line (RFC 7617)."""
    return b"Authorization: Basic " + base64.b64encode(f"{client_id}:{secret}".encode()) + b"\r\n"


def assert_error(answer: Answer, status: int, code: str, parameters: list[object]) -> None:
    """``answer`` is the Atlas error ``code`` with these parameters, and the server closes the connection after it."""
    assert answer.status == status, answer
    assert answer.headers["x-error-code"] == code
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["connection"] == "close"
    body = answer.json()
    assert body["error"] == status
    assert body["errorCode"] == code
    assert body["parameters"] == parameters
    assert set(body) == {"detail", "error", "errorCode", "parameters", "reason"}
