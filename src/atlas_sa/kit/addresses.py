"""The caller's address, and how addresses are written: one formatter for access lists, error parameters and
``lastUsedAddress``.

The client address is the socket peer. ``X-Forwarded-For`` is believed only when the peer is one of the configured
``trusted_proxies`` (addresses or CIDR blocks): then the header is read from the right, skipping further trusted
proxies, and the first address that is not a trusted proxy is the client. Anyone else could write any address into
that header, so from an untrusted peer it is ignored.

In kit because every layer needs it: authentication and access lists judge it, rate limits key on it, and the
``ipinfo`` and system-status endpoints report it.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache

from starlette.requests import Request
from starlette.types import Scope

from atlas_sa.kit.state import app_state

log = logging.getLogger("atlas_sa.kit.addresses")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The longest X-Forwarded-For chain we walk; a longer header is someone padding it, not a real proxy chain.
_MAX_FORWARDED_HOPS = 32


def parse_ip(value: str) -> IPAddress | None:
    """An address in canonical form, or ``None``. IPv4-mapped IPv6 (``::ffff:192.0.2.1``, what a dual-stack socket
    reports for IPv4 peers) becomes the IPv4 address, so access-list entries written as IPv4 match it; an IPv6
    zone (``fe80::1%eth0``) is dropped, as it names an interface, not a host."""
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_text(address: IPAddress) -> str:
    """How addresses are written on the wire (``lastUsedAddress``, error parameters): IPv4 dotted; IPv6 as Atlas,
    a Java service, writes it (``Inet6Address``): eight groups, no leading zeros, no ``::``. The access-list
    endpoints write ``ipAddress`` and ``cidrBlock`` the same way, so a caller's address reads as its entry does."""
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    packed = address.packed
    return ":".join(format(int.from_bytes(packed[i : i + 2], "big"), "x") for i in range(0, 16, 2))


@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            # A typo in the configuration must not turn every request into a 500; the entry simply trusts nobody.
            log.warning("ignoring trusted_proxies entry %r: not an IP address or CIDR block", entry)
    return tuple(networks)


def _is_trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


# The scope key under which a request's address is kept once computed: the brute-force guard, the rate limit and
# access lists all ask, and the answer cannot change within a request.
CLIENT_ADDRESS = "atlas_sa.client_address"


def client_ip(request: Request) -> str:
    """The caller's address: the socket peer, or what trusted proxies report in ``X-Forwarded-For``."""
    return client_address(app_state(request).settings.trusted_proxies, request.scope)


def client_address(trusted_proxies: list[str], scope: Scope) -> str:
    """:func:`client_ip` from the ASGI scope, computed once per request (kept in the scope)."""
    known: str | None = scope.get(CLIENT_ADDRESS)
    if known is None:
        known = scope[CLIENT_ADDRESS] = _client_address(trusted_proxies, scope)
    return known


@lru_cache(maxsize=4096)
def _peer_text(peer_text: str) -> str:
    # Parsing and rewriting an address costs ~10 us, 2% of a token request; peers repeat.
    peer = parse_ip(peer_text)
    return peer_text if peer is None else address_text(peer)


def _client_address(trusted_proxies: list[str], scope: Scope) -> str:
    client = scope.get("client")
    peer_text = client[0] if client else ""
    if not trusted_proxies:
        return _peer_text(peer_text)
    peer = parse_ip(peer_text)
    if peer is None:
        # Not an IP (a unix socket, a test client's placeholder name): nothing to match, nothing to trust.
        return peer_text
    trusted = _trusted_networks(tuple(trusted_proxies))
    if not trusted or not _is_trusted(peer, trusted):
        return address_text(peer)
    hops = [
        hop
        for name, value in scope["headers"]
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    found = peer
    for hop in reversed(hops[-_MAX_FORWARDED_HOPS:]):
        address = parse_ip(hop)
        if address is None:
            # A malformed hop: everything left of it is unverifiable, so the last trusted hop is the client.
            break
        found = address
        if not _is_trusted(address, trusted):
            break
    return address_text(found)
