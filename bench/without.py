"""``atlas-sa`` without its metrics, the baseline of the benchmark's metrics-cost rows (bench/bench.py).

``BENCH_WITHOUT=metrics``: every counter increment and histogram observation is a no-op (prometheus-client's and
the request counts of atlas_sa.kit.metrics.HttpMetrics), everything else as shipped (the request observer still
times the request and sets its id).
``BENCH_WITHOUT=observer``: the request observer (atlas_sa.kit.observe) is left out of the stack altogether, and
the metric updates made elsewhere (tokens, caches) are no-ops too: the server as it was before metrics.
``BENCH_WITHOUT=nothing``: the server as shipped, started the same way: the control the others are compared with.
``BENCH_WITHOUT=mint-write``: the token endpoint's group commit writes nothing after its first batch (each mint is
answered at once with the active key the first batch read): what a token costs without its durable write
(``bench/token_cpu.py``; not a server anyone should run).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import metrics

import atlas_sa.app
from atlas_sa.auth.minting import MintBatcher
from atlas_sa.cli.main import main
from atlas_sa.kit.metrics import HttpMetrics


def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


def _unobserved(app: Any, **_kwargs: Any) -> Any:
    return app


def _without_mint_write() -> None:
    real = MintBatcher._commit

    async def commit(self: MintBatcher, pending: list[Any]) -> None:
        key = self._key
        if key is None:
            await real(self, pending)
            return
        for one in pending:
            one.done.set_result(key)

    MintBatcher._commit = commit  # type: ignore[method-assign]


without = os.environ["BENCH_WITHOUT"]
if without == "nothing":
    pass
elif without == "mint-write":
    _without_mint_write()
else:
    metrics.Counter.inc = _nothing  # type: ignore[method-assign]
    metrics.Histogram.observe = _nothing  # type: ignore[method-assign]
    HttpMetrics.count = _nothing  # type: ignore[method-assign,assignment]
    if without == "observer":
        atlas_sa.app.RequestObserver = _unobserved  # type: ignore[assignment,misc]
    elif without != "metrics":
        raise SystemExit(f"BENCH_WITHOUT={without}: nothing, metrics, observer or mint-write")
main()
