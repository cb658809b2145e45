"""What the schemathesis run did, for the end-of-run summary."""

from __future__ import annotations

from collections import Counter, defaultdict

STATS: dict[str, int] = {"cases": 0, "requests": 0, "stateful_steps": 0}
# Operation id → how many responses of each status class it gave.
BY_OPERATION: defaultdict[str, Counter[str]] = defaultdict(Counter)
CURRENT: dict[str, str] = {"operation": "?"}
