from __future__ import annotations

import pytest

from tests.contract.stats import BY_OPERATION, STATS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STATS["cases"]:
        return
    terminalreporter.write_line(
        f"schemathesis: {STATS['cases']} generated cases, {STATS['requests']} requests to the app "
        f"over {len(BY_OPERATION)} operations"
    )
    for operation, statuses in sorted(BY_OPERATION.items()):
        counts = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        terminalreporter.write_line(f"  {operation}: {counts}")
