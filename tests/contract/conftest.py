from __future__ import annotations

import asyncio

import pytest

from tests.contract.openapi import response_hook
from tests.contract.stats import BY_OPERATION, STATS
from tests.contract.test_schemathesis import Bridge, Run, Seed
from tests.support.client import AtlasClient


@pytest.fixture
async def fuzz(client: AtlasClient) -> Run:
    """The test's client behind a WSGI bridge for schemathesis, with the seed objects made."""
    client.event_hooks["response"].append(response_hook())
    bridge = Bridge(client, asyncio.get_running_loop())
    seed = Seed(bridge)
    await seed._restore()
    return Run(seed)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STATS["requests"]:
        return
    terminalreporter.write_line(
        f"schemathesis: {STATS['cases']} generated cases, {STATS['requests']} requests to the app "
        f"over {len(BY_OPERATION)} operations ({STATS['stateful_steps']} of them stateful steps)"
    )
    for operation, statuses in sorted(BY_OPERATION.items()):
        counts = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        terminalreporter.write_line(f"  {operation}: {counts}")
