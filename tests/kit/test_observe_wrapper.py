"""The request observer around a tiny ASGI app (atlas_sa.kit.observe): what it promises of any app below it, a
streamed answer, one that fails before answering, and ids that stay unique in a forked process."""

from __future__ import annotations

import asyncio
import multiprocessing
import re

import httpx
from starlette.types import Receive, Scope, Send

from atlas_sa.kit.metrics import REGISTRY
from atlas_sa.kit.observe import REQUEST_ID, ROUTE, RequestObserver, current_request_id, new_request_id

GENERATED = re.compile(r"[0-9a-f]{32}")
CHUNK_PAUSE = 0.05


def count(route: str, status: int) -> float:
    labels = {"method": "GET", "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("atlas_sa_http_requests_total", labels) or 0.0


def duration_sum(route: str) -> float:
    labels = {"method": "GET", "route": route}
    return REGISTRY.get_sample_value("atlas_sa_http_request_duration_seconds_sum", labels) or 0.0


async def test_a_streamed_answer_is_observed_once_after_its_last_byte() -> None:
    seen: list[tuple[str, str | None]] = []  # per request: its id in the scope, and in the context

    async def streaming(scope: Scope, _receive: Receive, send: Send) -> None:
        scope[ROUTE] = "/test/stream"
        seen.append((scope[REQUEST_ID], current_request_id()))
        await send({"type": "http.response.start", "status": 203, "headers": [(b"content-type", b"text/plain")]})
        for chunk in (b"one ", b"two ", b"three"):
            await asyncio.sleep(CHUNK_PAUSE)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    app = RequestObserver(streaming, access_log_enabled=False)
    before, slept_before = count("/test/stream", 203), duration_sum("/test/stream")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://atlas.test") as client:
        response = await client.get("/anything")
        kept = await client.get("/anything", headers={"X-Request-Id": "client-7"})
    assert (response.status_code, response.text) == (203, "one two three")
    generated = response.headers["x-request-id"]
    assert GENERATED.fullmatch(generated)
    assert response.headers.get_list("x-request-id") == [generated]
    assert kept.headers.get_list("x-request-id") == ["client-7"]
    assert seen == [(generated, generated), ("client-7", "client-7")]
    assert current_request_id() is None
    assert count("/test/stream", 203) - before == 2
    # Timed to the last body message, not to the start of the response.
    assert duration_sum("/test/stream") - slept_before >= 2 * 3 * CHUNK_PAUSE


async def test_an_app_that_fails_before_answering_is_counted_as_500() -> None:
    async def failing(scope: Scope, _receive: Receive, _send: Send) -> None:
        scope[ROUTE] = "/test/fail"
        raise RuntimeError

    app = RequestObserver(failing, access_log_enabled=False)
    before = count("/test/fail", 500)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://atlas.test") as client:
        assert (await client.get("/anything")).status_code == 500
    assert count("/test/fail", 500) - before == 1
    assert current_request_id() is None


def _child_id(ids: multiprocessing.SimpleQueue[str]) -> None:
    ids.put(new_request_id())


def test_generated_ids_differ_in_a_forked_process() -> None:
    # Ids come from the process's random generator, not the OS: a forked child must not repeat its parent's.
    new_request_id()
    fork = multiprocessing.get_context("fork")
    ids: multiprocessing.SimpleQueue[str] = fork.SimpleQueue()
    child = fork.Process(target=_child_id, args=(ids,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert ids.get() != new_request_id()
    assert len({new_request_id() for _ in range(10_000)}) == 10_000
