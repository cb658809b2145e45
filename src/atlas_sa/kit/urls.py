"""This server's public address: the base of the URLs it writes (list ``links``) and of the absolute URIs it accepts
as naming itself (a Digest ``uri``).

The ``Host`` header is the client's to write, so it is never used: copied into ``links`` it let anyone point our
hrefs at a host of their choosing (``Host: evil.example:666``), and compared with a Digest ``uri`` it would prove
nothing. The base is ``ATLAS_SA_ISSUER`` when it is set (the public URL, shared by every instance, which tokens
already name as their issuer); otherwise the address the connection reached (ASGI's ``server``: the listening
socket's own address) with the request's scheme, which a client cannot choose. Behind a proxy that address is an
internal one: set ``ATLAS_SA_ISSUER``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.requests import Request

from atlas_sa.kit.state import app_state

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _authority(host: str, port: int | None, scheme: str) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"


def public_base(request: Request) -> str:
    """``scheme://authority[/prefix]`` without a trailing slash; an API path appended to it is a public URL."""
    settings = app_state(request).settings
    if settings.issuer:
        return settings.issuer.rstrip("/")
    scheme: str = request.scope.get("scheme", "http")
    server = request.scope.get("server")
    if not server or str(server[0]).startswith("/"):
        # No socket address, or a unix socket's path: the address the server was told to listen on.
        return settings.issuer_url.rstrip("/")
    host, port = server
    return f"{scheme}://{_authority(str(host), None if port is None else int(port), scheme)}"


def _origin(scheme: str, host: str | None, port: int | None) -> tuple[str, str, int | None]:
    scheme = scheme.lower()
    return scheme, (host or "").lower(), port if port is not None else _DEFAULT_PORTS.get(scheme)


def local_target(uri: str, request: Request) -> str | None:
    """The path and query of an absolute ``uri`` when it names this server (the scheme, host and port of
    :func:`public_base`, under its path prefix if it has one); ``None`` when it names anything else."""
    try:
        theirs = urlsplit(uri)
        ours = urlsplit(public_base(request))
        same = _origin(theirs.scheme, theirs.hostname, theirs.port) == _origin(ours.scheme, ours.hostname, ours.port)
    except ValueError:  # a port out of range or not a number, a malformed IPv6 literal
        return None
    if not same or theirs.username is not None or theirs.password is not None or theirs.fragment:
        return None
    prefix = ours.path.rstrip("/")
    path = theirs.path or "/"
    if prefix:
        if path != prefix and not path.startswith(prefix + "/"):
            return None
        path = path[len(prefix) :] or "/"
    return path + (f"?{theirs.query}" if theirs.query else "")
