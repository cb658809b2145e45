"""``atlas-sa serve``: the one command that runs the web stack. Everything it imports (uvicorn, FastAPI, the app and
every endpoint module, TLS, JSON logs) is imported here, and this module only by the command itself
(:func:`atlas_sa.cli.main.serve`), so the other commands start without it.
"""

from __future__ import annotations

import errno
import gc
import importlib.util
import shlex
import socket
from typing import TYPE_CHECKING

import uvicorn

from atlas_sa import __version__
from atlas_sa.app import create_app
from atlas_sa.cli.common import fail, log_lines_as_json, migrate, run_with_keys, safe_url, say
from atlas_sa.cli.credentials import start_up
from atlas_sa.cli.protocol import http_protocol
from atlas_sa.cli.seed import load_seed, migrate_and_apply
from atlas_sa.kit.logs import configure_logging
from atlas_sa.kit.tls import CIPHERS, Serving, TlsError
from atlas_sa.kit.tls import prepare as prepare_tls
from atlas_sa.settings import Settings

if TYPE_CHECKING:
    from starlette.types import ASGIApp


def run_server(settings: Settings) -> None:
    """Apply pending migrations (and the seed, if any), then serve the API until stopped."""
    configure_logging(settings.log_level, settings.log_format)
    if settings.log_format == "json":
        log_lines_as_json()
    if settings.opentelemetry and importlib.util.find_spec("opentelemetry.sdk") is None:
        fail("ATLAS_SA_OPENTELEMETRY needs the OpenTelemetry SDK: install atlas-sa with its otel extra", 2)
    # Checked before anything is written: a bad file leaves the database as it was, even uncreated.
    seeding = (settings.seed, load_seed(settings, settings.seed)) if settings.seed is not None else None
    https = https_files(settings)
    if seeding is None:
        migrate(settings)
    else:
        # Migrated there, so that a seed refused in a new SQLite file takes the file away with it.
        say(migrate_and_apply(settings, *seeding))
    started = run_with_keys(settings, start_up(settings))
    sockets = [bind_socket(settings.host, settings.port)]
    if settings.metrics_port is not None:
        # One server on both sockets; the app answers only /metrics on this one (atlas_sa.kit.observe).
        sockets.append(bind_socket(settings.host, settings.metrics_port))
    config = uvicorn_config(create_app(settings, keys=started.keys), settings, https)
    load_frozen(config)
    database = safe_url(settings.database_url)
    listening = settings.listen_url(sockets[0].getsockname()[1])
    say(f"atlas-sa {__version__} serving on {listening} with the database {database}")
    if settings.metrics_port is not None:
        say(f"metrics on {settings.listen_url(settings.metrics_port)}/metrics")
    if not started.has_organization:
        # What a new user needs next; bootstrap must write to this same database, whatever folder it runs in.
        say(
            f"No organization yet: create the first one and its credentials with\n"
            f"  atlas-sa bootstrap --database-url {shlex.quote(database)}"
        )
    uvicorn.Server(config).run(sockets=sockets)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose ``proto`` says TCP, and
    # accepted sockets inherit the listener's. With ``proto=0`` every keep-alive response waited ~40 ms for a
    # delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use")
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: ASGIApp, settings: Settings, https: Serving | None = None) -> uvicorn.Config:
    """How ``serve`` runs an ASGI app under uvicorn. The benchmark's ceilings (``bench/bare_serve.py``: bare
    FastAPI, Starlette and ASGI endpoints) are served through it too, so every ratio compares like with like."""
    return uvicorn.Config(
        app,
        # Logging is ours (configure_logging, atlas_sa.kit.logs), uvicorn's records included; the access log is
        # written by the app (atlas_sa.kit.observe), with the request id, route and caller.
        log_config=None,
        log_level=settings.log_level,
        access_log=False,
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
        proxy_headers=bool(settings.trusted_proxies),
        server_header=False,
        loop=settings.event_loop,
        timeout_graceful_shutdown=30,
        http=http_protocol(settings),
        # No route speaks WebSocket: an Upgrade header is ignored (RFC 9110 §7.8), the request answered as HTTP.
        ws="none",
        ssl_certfile=https.cert if https else None,
        ssl_keyfile=https.key if https else None,
        ssl_ciphers=CIPHERS,
    )


def load_frozen(config: uvicorn.Config) -> None:
    """Load the app, then freeze the heap. Everything made so far (modules, routes, models: several hundred
    thousand objects) lives as long as the process. Frozen, it is left out of the collector's full passes, which
    otherwise walked all of it every few thousand requests: those pauses were the token endpoint's p99 (120 ms
    against a p50 of 31 ms at 64 connections; 56 ms frozen, docs/performance.md)."""
    config.load()
    gc.collect()
    gc.freeze()


def https_files(settings: Settings) -> Serving | None:
    try:
        https = prepare_tls(settings)
    except TlsError as exc:
        fail(str(exc), 2)
    for note in https.notes if https else ():
        say(note)
    return https
