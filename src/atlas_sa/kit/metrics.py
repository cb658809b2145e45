"""Prometheus metrics (``prometheus-client``): every metric of the process, by the name it is scraped under, and the
``GET /metrics`` exposition.

The metrics are module-level objects in one registry (:data:`REGISTRY`), counted by the code that knows what
happened, and each process reports its own: with several instances (or several processes), scrape each one.

==================================================  ===========================================================
``atlas_sa_http_requests_total``                    requests answered, by ``method``, ``route`` (the route
                                                    template, ``unrouted`` when no route matched) and ``status``
``atlas_sa_http_request_duration_seconds``          histogram of the time to answer, by ``method`` and ``route``
``atlas_sa_tokens_issued_total``                    access tokens issued
``atlas_sa_tokens_refused_total``                   token requests refused, by ``reason`` (:data:`REFUSAL_REASONS`)
``atlas_sa_auth_failures_total``                    failed authentications, by ``scheme`` (``oauth``: a client
                                                    secret; ``digest``: an API key; ``bearer``: a token)
``atlas_sa_auth_lockouts_total``                    brute-force lockouts begun here, by ``scheme`` and ``bucket``
                                                    (``pair``, ``address``, ``client``)
``atlas_sa_auth_locked_out_requests_total``         attempts refused during a lockout, by ``scheme``
``atlas_sa_rate_limited_requests_total``            requests refused by a rate limit, by ``policy``
``atlas_sa_cache_hits_total`` / ``…_misses_total``  lookups in the authentication caches, by ``cache``
                                                    (``principal``, ``client``, ``view``)
``atlas_sa_db_pool_connections_in_use``             pooled database connections checked out, by ``pool``
``atlas_sa_secrets_expiring``                       service-account secrets that expire within
                                                    ``ATLAS_SA_SECRET_EXPIRY_WARNING_DAYS``
``atlas_sa_events_written_total``                   events written, by ``type``
==================================================  ===========================================================

plus the client library's ``process_*`` and ``python_*`` metrics. Gauges that describe state rather than count
happenings (the pool, the expiring secrets) are read when scraped: the app registers a refresher per gauge
(:func:`on_scrape`), and :func:`exposition` awaits them before rendering.

For other modules: count with the objects below, never with ``labels()`` on a hot path (it takes a lock and a
dictionary lookup per call); precreated children such as :data:`TOKENS_ISSUED` or the cache counters' are free of
that. The two HTTP metrics, updated on every request, are :class:`HttpMetrics`, plain numbers read when scraped.
``EVENTS_WRITTEN.labels(type=event_type).inc()`` is how the event recorder counts.
"""

from __future__ import annotations

import logging
import math
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator
from itertools import accumulate

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from atlas_sa.kit.state import AppState

# Our own registry rather than the library's global one: nothing another library registers is exported by accident.
REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

# Requests. Fast requests are the common case (a cached read takes ~0.1 ms of CPU), slow ones are the batch
# commits under load and the brute-force delay (1 s).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BOUNDS = (*DURATION_BUCKETS, math.inf)
# The ``le`` labels as the library's Histogram writes them (its helper is untyped).
_LE = tuple(floatToGoString(bound) for bound in _BOUNDS)  # type: ignore[no-untyped-call]


class _Timing:
    __slots__ = ("buckets", "created", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * len(_BOUNDS)  # not cumulative: the collector adds them up
        self.sum = 0.0
        self.created = time.time()


class _Answered:
    __slots__ = ("count", "created", "timing")

    def __init__(self, timing: _Timing) -> None:
        self.count = 0
        self.created = time.time()
        self.timing = timing


class HttpMetrics(Collector):
    """``atlas_sa_http_requests_total`` (by method, route template and status) and
    ``atlas_sa_http_request_duration_seconds`` (by method and route template), exposed as prometheus-client's
    ``Counter`` and ``Histogram`` expose them (``_created`` samples included), counted in plain numbers rather than
    through them: every request counts once in both, and the library's ``inc``/``observe`` (a chain of calls, a lock
    per value, a scan of the buckets) took 1.5 of the request observer's 4.0 µs (docs/performance.md). Counted
    on the event loop's thread only (the request observer and the server's protocol run there), so no lock: the
    scrape that reads them runs there too."""

    def __init__(self) -> None:
        self._answered: dict[tuple[str, str, int], _Answered] = {}
        self._timings: dict[tuple[str, str], _Timing] = {}

    def count(self, method: str, route: str, status: int, seconds: float) -> None:
        """One request answered with ``status`` after ``seconds``. Labels stay few: the observer passes route
        templates and known methods only."""
        answered = self._answered.get((method, route, status))
        if answered is None:
            answered = self._answered[method, route, status] = _Answered(self._timing(method, route))
        answered.count += 1
        timing = answered.timing
        timing.sum += seconds
        timing.buckets[bisect_left(_BOUNDS, seconds)] += 1

    def _timing(self, method: str, route: str) -> _Timing:
        timing = self._timings.get((method, route))
        if timing is None:
            timing = self._timings[method, route] = _Timing()
        return timing

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "atlas_sa_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels=("method", "route", "status"),
        )
        for (method, route, status), answered in self._answered.items():
            requests.add_metric((method, route, str(status)), answered.count, created=answered.created)
        yield requests
        name = "atlas_sa_http_request_duration_seconds"
        durations = HistogramMetricFamily(
            name,
            "Time from a request's arrival to its last response byte handed to the server, by method and route "
            "template.",
            labels=("method", "route"),
        )
        for (method, route), timing in self._timings.items():
            durations.add_metric((method, route), tuple(zip(_LE, accumulate(timing.buckets), strict=True)), timing.sum)
            durations.samples.append(Sample(f"{name}_created", {"method": method, "route": route}, timing.created))
        yield durations


HTTP_METRICS = HttpMetrics()
REGISTRY.register(HTTP_METRICS)
# The ``route`` of a request no route took: unknown paths (404), and requests refused before routing (413).
UNROUTED = "unrouted"

# Tokens.
TOKENS_ISSUED = Counter("atlas_sa_tokens_issued", "Access tokens issued.", registry=REGISTRY)
_TOKENS_REFUSED = Counter(
    "atlas_sa_tokens_refused", "Token requests refused, by reason.", ["reason"], registry=REGISTRY
)
# RFC 6749 §5.2 error codes, then the refusals that are not OAuth errors (429 from the rate limit or the
# brute-force lockout, 408/413 while reading the body).
REFUSAL_REASONS = (
    "invalid_request",
    "invalid_client",
    "unsupported_grant_type",
    "server_error",
    "rate_limited",
    "locked_out",
    "other",
)
TOKENS_REFUSED = {reason: _TOKENS_REFUSED.labels(reason) for reason in REFUSAL_REASONS}

# Authentication and its guards.
AUTH_SCHEMES = ("oauth", "digest", "bearer")
_AUTH_FAILURES = Counter("atlas_sa_auth_failures", "Failed authentications, by scheme.", ["scheme"], registry=REGISTRY)
AUTH_FAILURES = {scheme: _AUTH_FAILURES.labels(scheme) for scheme in AUTH_SCHEMES}
AUTH_LOCKOUTS = Counter(
    "atlas_sa_auth_lockouts",
    "Brute-force lockouts begun on this instance (a failure bucket emptied), by scheme and bucket.",
    ["scheme", "bucket"],
    registry=REGISTRY,
)
_AUTH_LOCKED_OUT = Counter(
    "atlas_sa_auth_locked_out_requests",
    "Authentication attempts refused because of a lockout, by scheme.",
    ["scheme"],
    registry=REGISTRY,
)
AUTH_LOCKED_OUT = {scheme: _AUTH_LOCKED_OUT.labels(scheme) for scheme in AUTH_SCHEMES}
RATE_LIMITED = Counter(
    "atlas_sa_rate_limited_requests",
    "Requests refused by a rate limit (429), by policy.",
    ["policy"],
    registry=REGISTRY,
)

# Caches.
CACHES = ("principal", "client", "view")
_CACHE_HITS = Counter("atlas_sa_cache_hits", "Authentication cache hits, by cache.", ["cache"], registry=REGISTRY)
_CACHE_MISSES = Counter("atlas_sa_cache_misses", "Authentication cache misses, by cache.", ["cache"], registry=REGISTRY)
CACHE_HITS = {cache: _CACHE_HITS.labels(cache) for cache in CACHES}
CACHE_MISSES = {cache: _CACHE_MISSES.labels(cache) for cache in CACHES}

# State, read at scrape time.
DB_POOL_IN_USE = Gauge(
    "atlas_sa_db_pool_connections_in_use",
    "Database connections checked out of the pool, by pool.",
    ["pool"],
    registry=REGISTRY,
)
SECRETS_EXPIRING = Gauge(
    "atlas_sa_secrets_expiring",
    "Service-account secrets that expire within the warning window (ATLAS_SA_SECRET_EXPIRY_WARNING_DAYS).",
    registry=REGISTRY,
)

# Events (the Atlas Events API's recorder counts them).
EVENTS_WRITTEN = Counter("atlas_sa_events_written", "Events written, by type.", ["type"], registry=REGISTRY)

log = logging.getLogger("atlas_sa.metrics")

Refresher = Callable[[], Awaitable[None]]


def on_scrape(state: AppState, refresher: Refresher) -> None:
    """Run ``refresher`` before each exposition of this app's metrics (for gauges read from the database)."""
    state.scrape_refreshers.append(refresher)


async def exposition(state: AppState, accept: str | None) -> tuple[bytes, str]:
    """The metrics as the scraper asked for them (Prometheus text, or OpenMetrics by ``Accept``), and their media
    type."""
    for refresher in state.scrape_refreshers:
        try:
            await refresher()
        except Exception as exc:  # noqa: BLE001 - a gauge left as last read beats no metrics at all
            log.warning("could not refresh a metric (%s); it keeps its last value", type(exc).__name__)
    encode, media_type = choose_encoder(accept or "")
    return encode(REGISTRY), media_type
