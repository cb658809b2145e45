"""The request observer around a tiny ASGI app (atlas_sa.kit.observe): what it promises of any app below it, a
streamed answer, one that fails before answering, and ids that stay unique in a forked process; and its HTTP
metrics (atlas_sa.kit.metrics.HttpMetrics), exposed exactly as prometheus-client's own Counter and Histogram."""

from __future__ import annotations

import asyncio
import multiprocessing
import re

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from starlette.types import Receive, Scope, Send

from atlas_sa.kit.metrics import DURATION_BUCKETS, REGISTRY, HttpMetrics
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


def test_the_http_metrics_are_exposed_as_the_library_s_counter_and_histogram_would_be() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counted = HttpMetrics()
    ours.register(counted)
    requests = Counter(
        "atlas_sa_http_requests",
        "HTTP requests answered, by method, route template and status.",
        ["method", "route", "status"],
        registry=theirs,
    )
    durations = Histogram(
        "atlas_sa_http_request_duration_seconds",
        "Time from a request's arrival to its last response byte handed to the server, by method and route template.",
        ["method", "route"],
        buckets=DURATION_BUCKETS,
        registry=theirs,
    )
    answers = [
        ("GET", "/healthz", 200, 0.0004),
        ("POST", "/api/oauth/token", 200, 0.001),  # on a bound: counted in its bucket (le)
        ("POST", "/api/oauth/token", 200, 0.0123),
        ("POST", "/api/oauth/token", 401, 1.0),
        ("GET", "unrouted", 404, 42.0),  # past the last bound: +Inf only
    ]
    for method, route, status, seconds in answers:
        counted.count(method, route, status, seconds)
        requests.labels(method, route, str(status)).inc()
        durations.labels(method, route).observe(seconds)
    created = re.compile(rb"(_created\{[^}]*\}) \S+")
    for expose in (generate_latest, openmetrics_latest):
        assert created.sub(rb"\1 T", expose(ours)) == created.sub(rb"\1 T", expose(theirs))
