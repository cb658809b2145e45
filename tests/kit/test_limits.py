"""Request bodies over the limit: 413 in Atlas's form, declared or streamed, and nothing is written."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tests.support.client import AtlasClient

ORGS = "/api/atlas/v2/orgs"
LIMIT = 1_048_576


def assert_413(response: object) -> None:
    assert response.status_code == 413  # type: ignore[attr-defined]
    assert response.headers["x-error-code"] == "PAYLOAD_TOO_LARGE"  # type: ignore[attr-defined]
    assert response.json()["parameters"] == [LIMIT]  # type: ignore[attr-defined]


async def test_declared_length_over_limit(client: AtlasClient) -> None:
    body = b'{"name": "' + b"a" * (LIMIT + 10) + b'"}'
    assert_413(await client.post(ORGS, content=body, headers={"Content-Type": "application/json"}))


async def test_streamed_body_over_limit(client: AtlasClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(120):
            yield b" " * 10_000

    assert_413(await client.post(ORGS, content=chunks(), headers={"Content-Type": "application/json"}))


async def test_limit_honours_envelope(client: AtlasClient) -> None:
    body = b"x" * (LIMIT + 1)
    response = await client.post(f"{ORGS}?envelope=true", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["content"]["errorCode"] == "PAYLOAD_TOO_LARGE"


async def test_body_at_limit_is_read(client: AtlasClient) -> None:
    padding = LIMIT - len(b'{"name": "x"}')
    body = b'{"name": "x"' + b" " * padding + b"}"
    assert len(body) == LIMIT
    response = await client.post(ORGS, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code != 413
