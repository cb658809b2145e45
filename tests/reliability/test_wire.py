"""HTTP/1.1 framing below the application, against a real ``atlas-sa serve``: header size limits enforced as the bytes
arrive (431, and 414 for the request target), malformed framing answered with an Atlas 400, pipelined requests
answered in order before a refusal, and none of it logging an error or a traceback (each test reads the server's
stderr at the end)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from atlas_sa.settings import Settings
from tests.support.raw import (
    Answer,
    answers,
    assert_error,
    assert_quiet,
    basic,
    connect,
    exchange,
    first_answer,
    read_all,
    reset,
    split_response,
)
from tests.support.server import LiveServer, Served, live_server

pytestmark = pytest.mark.slow

ENV = {"ATLAS_SA_SECRET_KEY": "wire-test-master-key-0123456789ab", "ATLAS_SA_HEADER_TIMEOUT": "1"}
HEAD, FIELD, FIELDS, URL = 65_536, 8192, 100, 8192  # the defaults

GET = b"GET /healthz HTTP/1.1\r\nHost: atlas.test\r\n"
CLOSE = b"Connection: close\r\n"
TOKEN = b"POST /api/oauth/token HTTP/1.1\r\nHost: atlas.test\r\nContent-Type: application/x-www-form-urlencoded\r\n"
GRANT = b"grant_type=client_credentials"


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return ENV


def head_of(size: int) -> bytes:
    """A GET whose request line and header fields take exactly ``size`` bytes, each field within the limits."""
    head = GET + CLOSE
    remaining = size - len(head) - 2  # the blank line ending the head
    n = 0
    while remaining:
        # "X-Pad-N: value\r\n", the value at most 8000 bytes, never leaving less than a whole short field behind
        overhead = len(b"X-Pad-%d: \r\n" % n)
        value = min(8000, remaining - overhead)
        if remaining - overhead - value and remaining - overhead - value < 20:
            value -= 20
        head += b"X-Pad-%d: " % n + b"a" * value + b"\r\n"
        remaining -= overhead + value
        n += 1
    head += b"\r\n"
    assert len(head) == size
    return head


def test_header_limits_hold_exactly(server: LiveServer) -> None:
    def one(data: bytes) -> Answer:
        (answer,) = exchange(server, data)
        return answer

    # The request target: 8192 bytes are read, one more is 414.
    target = b"/healthz?" + b"q" * (URL - len(b"/healthz?"))
    assert one(b"GET " + target + b" HTTP/1.1\r\nHost: atlas.test\r\n" + CLOSE + b"\r\n").status == 200
    assert_error(one(b"GET " + target + b"q HTTP/1.1\r\nHost: atlas.test\r\n\r\n"), 414, "URI_TOO_LONG", [URL])
    # One field: name and value of 8192 bytes in all are read, one more is 431.
    name = b"X-Long"
    field = name + b": " + b"v" * (FIELD - len(name))
    assert one(GET + CLOSE + field + b"\r\n\r\n").status == 200
    too_long = one(GET + field + b"v\r\n\r\n")
    assert_error(too_long, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", [FIELD, "bytes per field"])
    assert too_long.json()["detail"] == "Request header fields exceed the limit of 8192 bytes per field."
    # The number of fields: 100 are read (Host and Connection among them), 101 is 431.
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(FIELDS - 2))
    assert one(GET + CLOSE + fields + b"\r\n").status == 200
    assert_error(
        one(GET + CLOSE + fields + b"X-Last: 1\r\n\r\n"), 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", [100, "fields"]
    )
    # The head in all, as sent (request line, fields, line ends): 65,536 bytes are read, one more is 431, and so
    # is a head made long by whitespace, which no field holds.
    assert one(head_of(HEAD)).status == 200
    over = [HEAD, "bytes in all"]
    assert_error(one(head_of(HEAD + 1)), 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", over)
    assert_error(one(GET + b"X-Blank:" + b" " * HEAD + b"x\r\n\r\n"), 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", over)
    assert_quiet(server.log())


def peak_rss_kb(server: LiveServer) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_huge_header_is_refused_as_it_arrives(server: LiveServer) -> None:
    """A 64 MB header field gets its 431 after the first 64 KiB, while the client is still sending, and the
    server's peak memory does not grow with it (it grew by ~127 MB before the limits)."""
    total = 64 * 1_048_576
    peak_before = peak_rss_kb(server)
    sock = connect(server)
    sock.sendall(GET + b"X-Flood: ")
    sent, raw, chunk = 0, b"", b"a" * 65_536
    sock.setblocking(False)
    with contextlib.suppress(OSError):  # the server may close while we still send: the 431 is read below
        while sent < total and not raw:
            with contextlib.suppress(BlockingIOError):
                sent += sock.send(chunk)
            with contextlib.suppress(BlockingIOError):
                raw = sock.recv(65_536)
    sock.setblocking(True)
    sock.settimeout(10)
    with contextlib.suppress(OSError):
        raw += read_all(sock)
    sock.close()
    assert sent < total // 4, sent  # answered long before the field was all sent
    status, headers, body = split_response(raw)
    assert status == 431
    assert headers["x-error-code"] == "REQUEST_HEADER_FIELDS_TOO_LARGE"
    assert body.endswith(b'"parameters":[65536,"bytes in all"],"reason":"Request Header Fields Too Large"}')
    assert peak_rss_kb(server) - peak_before < 16 * 1024
    assert_quiet(server.log())


MALFORMED = {
    # The review's case: a chunk size that is not hexadecimal, on the token endpoint, after a valid first chunk.
    "bad chunk on the token endpoint": TOKEN + b"Transfer-Encoding: chunked\r\n\r\n5\r\ngrant\r\nzz\r\n",
    "bad chunk size": TOKEN + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    "chunk size overflow": TOKEN + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
    "chunk without its CRLF": TOKEN + b"Transfer-Encoding: chunked\r\n\r\n5\r\ngrantXX",
    "Content-Length not a number": TOKEN + b"Content-Length: abc\r\n\r\n",
    "Content-Length negative": TOKEN + b"Content-Length: -1\r\n\r\n",
    "Content-Length with a sign": TOKEN + b"Content-Length: +5\r\n\r\nabcde",
    "Content-Length twice, differing": TOKEN + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "Content-Length and Transfer-Encoding": TOKEN + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "Transfer-Encoding not chunked": TOKEN + b"Transfer-Encoding: gzip\r\n\r\nabc",
    "obs-fold": GET + b"X-Folded: a\r\n b\r\n\r\n",
    "space in a field name": GET + b"X Y: 1\r\n\r\n",
    "NUL in a field value": GET + b"X-Nul: a\x00b\r\n\r\n",
    "bare LF line ends": b"GET /healthz HTTP/1.1\nHost: atlas.test\n\n",
    "request line without a target": b"GARBAGE\r\n\r\n",
    "unknown HTTP version": b"GET /healthz HTTP/9.9\r\nHost: atlas.test\r\n\r\n",
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "unknown method": b"A" * 5000 + b" / HTTP/1.1\r\n\r\n",
}


def test_malformed_framing_gets_an_atlas_400(server: LiveServer) -> None:
    for name, data in MALFORMED.items():
        got = exchange(server, data)
        assert len(got) == 1, (name, got)
        assert_error(got[0], 400, "MALFORMED_REQUEST", [])
        assert got[0].json()["detail"] == "Received HTTP request is malformed.", name
    assert_quiet(server.log())


def test_http_1_0_without_a_length_has_no_body(server: LiveServer) -> None:
    # RFC 9112 §6.3: a request with neither Content-Length nor Transfer-Encoding has an empty body; an HTTP/1.0
    # connection ends with its answer, and the bytes sent after the head are not read as anything.
    (answer,) = exchange(server, b"POST /api/oauth/token HTTP/1.0\r\n\r\n" + GRANT)
    assert answer.status == 400
    assert answer.json()["error"] == "invalid_request"
    assert answer.headers["connection"] == "close"
    assert_quiet(server.log())


def test_pipelined_requests_are_answered_before_a_refusal(server: LiveServer) -> None:
    got = exchange(server, GET + b"\r\n" + GET + b"\r\n" + GET + CLOSE + b"\r\n")
    assert [a.status for a in got] == [200, 200, 200]
    # Garbage after a good request: the good one is answered, then the 400, then the connection ends.
    first, refused = exchange(server, GET + b"\r\nGARBAGE\r\n\r\n" + GET + b"\r\n")
    assert first.status == 200
    assert first.json() == {"status": "ok"}
    assert_error(refused, 400, "MALFORMED_REQUEST", [])
    # A pipelined token request whose chunked body breaks: the GET before it is answered, the broken one never runs.
    first, refused = exchange(server, GET + b"\r\n" + TOKEN + b"Transfer-Encoding: chunked\r\n\r\n5\r\ngrant\r\nzz\r\n")
    assert first.status == 200
    assert_error(refused, 400, "MALFORMED_REQUEST", [])
    # An oversized head pipelined after a good request: likewise.
    first, refused = exchange(server, GET + b"\r\n" + GET + b"X-Long: " + b"v" * FIELD + b"\r\n\r\n")
    assert first.status == 200
    assert_error(refused, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", [FIELD, "bytes per field"])
    assert_quiet(server.log())


def test_clients_leaving_mid_request_log_nothing(server: LiveServer) -> None:
    """A client that vanishes (reset or half-close) before its head or body is complete, or at once, ends its
    request without an error in the log: no ``ClientDisconnect`` logged as unexpected, no traceback."""
    unfinished = [
        b"",
        GET[:20],
        TOKEN + b"Content-Length: 100\r\n\r\ngrant",
        TOKEN + b"Transfer-Encoding: chunked\r\n\r\n5\r\ngr",
    ]
    for data in unfinished:
        sock = connect(server)
        sock.sendall(data)
        time.sleep(0.2)  # the request reaches the application before the client goes
        reset(sock)
        sock = connect(server)
        sock.sendall(data)
        time.sleep(0.2)
        sock.shutdown(socket.SHUT_WR)
        read_all(sock)
        sock.close()
    assert exchange(server, GET + CLOSE + b"\r\n")[0].status == 200
    assert_quiet(server.log())


def test_header_deadline_waits_for_an_earlier_answer(served: Served) -> None:
    """The header deadline of a pipelined request does not run while the server is still answering an earlier one
    (its reading paused meanwhile): the earlier answers come first, in order, then the 408. A client that has gone
    by then draws no traceback (the staged close met ENOTCONN when the 408 drew the client's reset)."""
    slow = {**ENV, "ATLAS_SA_AUTH_FAILURES_BEFORE_DELAY": "0", "ATLAS_SA_AUTH_FAILURE_DELAY_SECONDS": "2"}
    wrong = basic("mdb_sa_id_000000000000000000000000", "wrong")
    failing = TOKEN + wrong + b"Content-Length: %d\r\n\r\n" % len(GRANT) + GRANT  # answered after the 2 s delay
    with live_server(served.url, env=slow) as server:
        for client_leaves in (False, True):
            sock = connect(server)
            sock.sendall(failing)
            time.sleep(0.3)  # its body read, the request waits out its delay
            sock.sendall(GET + b"\r\n" + GET[:10])  # a complete request (reading pauses) and an unfinished one
            if client_leaves:
                time.sleep(0.2)
                sock.close()
                continue
            got = answers(read_all(sock))
            sock.close()
            assert [a.status for a in got] == [401, 200, 408]
            assert_error(got[2], 408, "REQUEST_TIMEOUT", [1])
        time.sleep(3)  # past the delay and the deadline of the connection the client left
        assert_quiet(server.log())


def test_trailer_fields_are_limited_and_dropped(server: LiveServer, served: Served) -> None:
    """Fields after a chunked body count against the same limits as the head, as does the framing between body
    bytes (a chunk extension); a small trailer is accepted and ignored."""
    chunked = (
        TOKEN
        + basic(served.credentials["clientId"], served.credentials["clientSecret"])
        + b"Transfer-Encoding: chunked\r\n"
        + CLOSE
        + b"\r\n"
    )
    body = b"%x\r\n%s\r\n0\r\n" % (len(GRANT), GRANT)
    ok = exchange(server, chunked + body + b"X-Trailer: 1\r\n\r\n")
    assert [a.status for a in ok] == [200]
    assert ok[0].json()["token_type"] == "Bearer"
    too_many = exchange(server, chunked + body + b"X-T: 1\r\n" * 200 + b"\r\n")
    assert_error(too_many[0], 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", [FIELDS, "fields"])
    too_long = exchange(server, chunked + body + b"X-T: " + b"v" * FIELD + b"\r\n\r\n")
    assert_error(too_long[0], 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", [FIELD, "bytes per field"])
    # Framing bytes are counted from the read after the last delivered part, so they are refused after 64 to 128 KiB.
    extension = exchange(server, chunked + b"5;" + b"e" * 2 * HEAD + b"\r\n")
    assert_error(extension[0], 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", [HEAD, "bytes in all"])
    assert_quiet(server.log())


def test_upgrade_requests_are_answered_as_http(server: LiveServer) -> None:
    """No route speaks WebSocket or h2c: the Upgrade is ignored, the request answered in Atlas's way, and the
    connection ends with that answer (the parser frames nothing after an Upgrade request)."""
    websocket = (
        b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    )
    h2c = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
    for upgrade in (websocket, h2c):
        (answer,) = exchange(server, GET + upgrade + b"\r\n" + GET + b"\r\n")
        assert answer.status == 200
        assert answer.json() == {"status": "ok"}
        assert answer.headers["connection"] == "close"
    assert_quiet(server.log())


def test_default_limits() -> None:
    settings = Settings()
    assert (settings.max_header_bytes, settings.max_header_field_bytes) == (HEAD, FIELD)
    assert (settings.max_header_fields, settings.max_url_bytes) == (FIELDS, URL)


def requests_counted(server: LiveServer) -> Counter[tuple[str, str, str]]:
    """``atlas_sa_http_requests_total`` by (method, route, status)."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    counted: Counter[tuple[str, str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "atlas_sa_http_requests_total":
                labels = sample.labels
                counted[labels["method"], labels["route"], labels["status"]] = int(sample.value)
    return counted


def test_answers_below_the_app_are_observed_once(served: Served) -> None:
    """The 431, 414, 400 and 408 written below the app carry a request id (the client's, when admissible) and are
    counted and access-logged as the app's answers are, once each; a body whose framing broke while the app read it
    is counted and logged as the 400 its client got (it was counted as a 500 the client never saw)."""
    env = {**ENV, "ATLAS_SA_LOG_LEVEL": "info", "ATLAS_SA_LOG_FORMAT": "json"}
    broken_body = TOKEN + b"X-Request-Id: chosen-body\r\nTransfer-Encoding: chunked\r\n\r\n5\r\ngrant\r\nzz\r\n"
    sent = {
        "431": GET + b"X-Request-Id: chosen-431\r\nX-Long: " + b"v" * FIELD + b"\r\n\r\n",
        "414": b"GET /" + b"q" * URL + b" HTTP/1.1\r\nHost: atlas.test\r\n\r\n",
        "400": b"GARBAGE\r\n\r\n",
        "400 mid-body": broken_body,
    }
    with live_server(served.url, env=env) as server:
        before = requests_counted(server)
        got = {name: exchange(server, data)[0] for name, data in sent.items()}
        with connect(server) as sock:
            got["408"] = first_answer(read_all(sock))
        counted = requests_counted(server) - before
        log = server.log()
    assert {name: answer.status for name, answer in got.items()} == {
        "431": 431,
        "414": 414,
        "400": 400,
        "400 mid-body": 400,
        "408": 408,
    }
    ids = {name: answer.headers["x-request-id"] for name, answer in got.items()}
    assert (ids["431"], ids["400 mid-body"]) == ("chosen-431", "chosen-body")
    assert all(re.fullmatch("[0-9a-f]{32}", ids[name]) for name in ("414", "400", "408")), ids
    counted -= Counter({("GET", "/metrics", "200"): 1})
    assert counted == Counter(
        {
            ("other", "unrouted", "431"): 1,
            ("other", "unrouted", "414"): 1,
            ("other", "unrouted", "400"): 1,
            ("POST", "/api/oauth/token", "400"): 1,
            ("other", "unrouted", "408"): 1,
        }
    )
    access = [json.loads(line) for line in log.splitlines() if '"atlas_sa.access"' in line]
    by_id = {line["request_id"]: line for line in access}
    assert len(by_id) == len(access), access
    for name, answer in got.items():
        assert by_id[ids[name]]["status"] == answer.status, name
    assert (by_id["chosen-body"]["method"], by_id["chosen-body"]["route"]) == ("POST", "/api/oauth/token")
