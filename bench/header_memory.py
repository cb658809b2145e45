"""Server memory under an oversized request header: a live ``atlas-sa serve`` on a temporary SQLite database gets one
header field of ``--megabytes`` MB over a raw socket, sent in 64 KiB writes while the answer is watched for.

Prints the server's resident memory (``VmRSS``) and peak (``VmHWM``) from ``/proc`` before and after, how many bytes
had been sent when the answer arrived, and the answer's status line. With the header limits the answer is a 431 after
the first 64 KiB and memory stays flat; without them the server buffered the whole header.

    .venv/bin/python bench/header_memory.py [--megabytes 64] [--trailer]

``--trailer`` sends the same bytes as one trailer field of a chunked body instead.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.server import live_server

WRITE = 65_536


def memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def flood(base_url: str, megabytes: int, *, trailer: bool) -> tuple[int, bytes]:
    """Send the oversized field; return the bytes sent when the answer's first bytes arrived, and the answer."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    if trailer:
        head = (
            b"POST /api/oauth/token HTTP/1.1\r\nHost: bench\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\n0\r\nX-Flood: "
        )
    else:
        head = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Flood: "
    sock.sendall(head)
    sent, total, answer = len(head), megabytes * 1_048_576, b""
    chunk = b"a" * WRITE
    sock.setblocking(False)
    try:
        while sent < total and not answer:
            with contextlib.suppress(BlockingIOError):
                sent += sock.send(chunk)
            with contextlib.suppress(BlockingIOError):
                answer = sock.recv(65_536)
        if not answer:
            sock.sendall(b"\r\n\r\n")
    except OSError:
        pass  # the server closed after answering; the answer is still readable
    sock.setblocking(True)
    sock.settimeout(30)
    try:
        while not answer.endswith(b"}") and (data := sock.recv(65_536)):
            answer += data
    except OSError:
        pass
    sock.close()
    return sent, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=64)
    parser.add_argument("--trailer", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        env = {"ATLAS_SA_SECRET_KEY": "header-memory-key-0123456789abcdef", "ATLAS_SA_HEADER_TIMEOUT": "60"}
        with live_server(f"sqlite:///{workdir}/bench.db", env=env) as server:
            before = memory_kb(server.process.pid)
            sent, answer = flood(server.base_url, args.megabytes, trailer=args.trailer)
            after = memory_kb(server.process.pid)
    status = answer.split(b"\r\n", 1)[0].decode("latin-1") or "(no answer)"
    print(f"field of {args.megabytes} MB {'in a trailer' if args.trailer else 'in the header'}: {status}")
    print(f"answered after {sent / 1_048_576:.2f} MB sent")
    print(f"server RSS {before['VmRSS'] / 1024:.1f} MB before, {after['VmRSS'] / 1024:.1f} MB after")
    print(f"server peak RSS {before['VmHWM'] / 1024:.1f} MB before, {after['VmHWM'] / 1024:.1f} MB after")


if __name__ == "__main__":
    main()
