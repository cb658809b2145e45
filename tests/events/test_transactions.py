"""An event lives and dies with its request's unit of work: a request that records an event and then fails leaves
no event behind (nor a count in ``atlas_sa_events_written``), on both databases, through the real route wrapper; and
each event records its request's id."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response

from atlas_sa.audit.catalogue import EventType
from atlas_sa.audit.dependencies import Recorder
from atlas_sa.errors import InvalidAttribute
from atlas_sa.kit.metrics import REGISTRY
from atlas_sa.kit.rendering import no_content
from atlas_sa.kit.routing import atlas_router
from tests.events.support import V2, Marker, reader_of
from tests.support.client import AtlasClient


def add_probe_routes(app: FastAPI) -> None:
    """Two routes that record an event; one then fails as a service does, with an Atlas error."""
    router = atlas_router("2023-01-01", prefix="/probe")

    @router.post("/orgs/{orgId}/record")
    async def record(orgId: str, events: Recorder) -> Response:  # noqa: N803
        await events.record(EventType.ORG_CREATED, org_id=orgId, target={"probe": "kept"})
        return no_content()

    @router.post("/orgs/{orgId}/record-then-fail")
    async def record_then_fail(orgId: str, events: Recorder) -> Response:  # noqa: N803
        await events.record(EventType.ORG_CREATED, org_id=orgId, target={"probe": "lost"})
        raise InvalidAttribute("probe")

    app.include_router(router)


async def test_a_failed_request_leaves_no_event(app: FastAPI, client: AtlasClient) -> None:
    add_probe_routes(app)
    org_id = await client.create_org()
    marker = await Marker.now(reader_of(client), org_id)

    failed = await client.post(f"/probe/orgs/{org_id}/record-then-fail")
    assert failed.status_code == 400, failed.text
    assert await marker.since() == []

    kept = await client.post(f"/probe/orgs/{org_id}/record")
    assert kept.status_code == 204, kept.text
    assert [e["raw"]["probe"] for e in await marker.since()] == ["kept"]


def written(event_type: str) -> float:
    return REGISTRY.get_sample_value("atlas_sa_events_written_total", {"type": event_type}) or 0.0


async def test_the_events_metric_counts_committed_events_only(app: FastAPI, client: AtlasClient) -> None:
    add_probe_routes(app)
    org_id = await client.create_org()
    before = written("ORG_CREATED")
    assert (await client.post(f"/probe/orgs/{org_id}/record-then-fail")).status_code == 400
    assert written("ORG_CREATED") == before
    assert (await client.post(f"/probe/orgs/{org_id}/record")).status_code == 204
    assert written("ORG_CREATED") == before + 1


async def test_events_record_the_request_id(client: AtlasClient) -> None:
    org_id = await client.create_org()
    marker = await Marker.now(reader_of(client), org_id)
    sent = await client.post(f"{V2}/groups", json={"name": "p1", "orgId": org_id}, headers={"X-Request-Id": "req-42"})
    assert sent.status_code == 200, sent.text
    assigned = await client.post(f"{V2}/groups", json={"name": "p2", "orgId": org_id})
    assert assigned.status_code == 200, assigned.text
    recorded = await marker.since()
    # The client's id when it sent one, else the one the server assigned and answered with.
    assert [e["raw"]["requestId"] for e in recorded] == ["req-42", assigned.headers["x-request-id"]]
