"""``ATLAS_SA_OPENTELEMETRY=true``: every request makes a server span named after its route template, the fast paths'
too; off, none (atlas_sa.app). Spans are read from the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from atlas_sa.app import create_app
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.settings import Settings
from tests.support.client import SA_VERSION, TOKEN_PATH, AtlasClient, accept

V2 = "/api/atlas/v2"
ACCOUNT = "/api/atlas/v2/orgs/{orgId}/serviceAccounts/{clientId}"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


async def traced_client(
    settings: Settings, clock: FrozenClock, db: Database, provider: TracerProvider, *, enabled: bool
) -> AsyncIterator[AtlasClient]:
    app = create_app(
        settings.model_copy(update={"opentelemetry": enabled}), clock=clock, database=db, tracer_provider=provider
    )
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with AtlasClient(app=app, transport=transport, base_url="http://atlas.test") as client:
        yield client


def server_spans(exporter: InMemorySpanExporter) -> list[tuple[str, object, object]]:
    return [
        (span.name, (span.attributes or {}).get("http.route"), (span.attributes or {}).get("http.response.status_code"))
        for span in exporter.get_finished_spans()
        if span.kind is SpanKind.SERVER
    ]


async def test_requests_make_spans_named_by_route(
    settings: Settings, clock: FrozenClock, db: Database, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async for client in traced_client(settings, clock, db, provider, enabled=True):
        org_id = await client.create_org()  # a token from the fast path
        assert client.credentials is not None
        url = f"{V2}/orgs/{org_id}/serviceAccounts/{client.credentials.client_id}"
        for _ in range(2):  # routed, then the read fast path
            assert (await client.get(url, headers=accept(SA_VERSION))).status_code == 200
        assert (await client.get(f"{V2}/nowhere")).status_code == 404
    assert server_spans(exporter) == [
        (f"POST {TOKEN_PATH}", TOKEN_PATH, 200),
        (f"GET {ACCOUNT}", ACCOUNT, 200),
        (f"GET {ACCOUNT}", ACCOUNT, 200),
        ("GET", None, 404),
    ]
    # One trace per request, each its own root.
    assert len({span.context.trace_id for span in exporter.get_finished_spans() if span.kind is SpanKind.SERVER}) == 4


async def test_no_spans_when_off(
    settings: Settings, clock: FrozenClock, db: Database, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async for client in traced_client(settings, clock, db, provider, enabled=False):
        await client.create_org()
        assert (await client.get("/healthz")).status_code == 200
    assert exporter.get_finished_spans() == ()
