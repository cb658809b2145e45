"""The fixture the feature test packages use to hold every response of theirs to the official contract."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.openapi import Contract, contract, response_hook
from tests.support.client import AtlasClient


@pytest.fixture(autouse=True)
def contract_checked(request: pytest.FixtureRequest) -> Iterator[Contract | None]:
    """Every response the test's ``client`` receives is checked against the official OpenAPI subset (tests that
    use no client are left alone, and are not multiplied by the client's two backends)."""
    if "client" not in request.fixturenames:
        yield None
        return
    client: AtlasClient = request.getfixturevalue("client")
    hook = response_hook()
    client.event_hooks["response"].append(hook)
    yield contract()
    client.event_hooks["response"].remove(hook)
