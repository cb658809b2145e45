"""HTTPS for ``serve``: the certificate and key it presents, either given (``ATLAS_SA_TLS_CERT``/``_KEY``) or, in
development (``ATLAS_SA_TLS_DEV``), made here by a local certificate authority.

Official clients insist on ``https://`` token URLs (the MongoDB MCP server refuses an ``http://`` token endpoint), so
a development server must speak TLS that clients verify. The development CA is made once and kept beside the
database with the server certificate it signed; a restart reuses both, so a client told to trust ``ca.pem`` keeps
trusting the server. The server certificate is made again (by the same CA) when it nears its end or names other
hosts; the CA only when it nears its own end or its name constraints do not cover the hosts.

The CA is name-constrained to the hosts it serves (RFC 5280 §4.2.1.10): a copy of its key, which lies on disk, can
sign for ``localhost`` and this server's addresses, never for a real site a trusting client might visit.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import secrets
import shlex
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from atlas_sa.kit.db import is_memory_sqlite, parse_database_url
from atlas_sa.settings import Settings

# What clients read to trust a CA: OpenSSL-based ones (Python's ssl, Go on Linux), Node, Python's requests, curl.
CA_VARIABLES = ("SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
# The names every development certificate carries: what a client on this machine dials.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# TLS 1.2 suites with forward secrecy and authenticated encryption (TLS 1.3's are all so). uvicorn's default, OpenSSL's
# "TLSv1" alias, is the TLS 1.0 suite list: it gave TLS 1.2 clients CBC with SHA-1 MACs only, and no AES-GCM at all.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
_CA_LIFETIME = timedelta(days=3650)
# 397 days: the most that browsers and Apple's TLS stack accept from any CA.
_SERVER_LIFETIME = timedelta(days=397)
# Made again this long before the end, so a server that runs for weeks never presents an expired certificate.
_RENEW_BEFORE = timedelta(days=30)
# Against clocks a little behind ours.
_BACKDATE = timedelta(hours=1)


class TlsError(RuntimeError):
    """A certificate or key cannot be used; the message is one line, fit for a CLI error."""


@dataclass(frozen=True)
class DevCertificates:
    ca: Path  # what clients are told to trust
    cert: Path
    key: Path
    # What was made at this start: "" (all reused), "server certificate" or "CA and server certificate".
    made: str


@dataclass(frozen=True)
class Serving:
    """What ``serve`` gives uvicorn, and what the user is told at start."""

    cert: Path
    key: Path
    notes: list[str]


def prepare(settings: Settings) -> Serving | None:
    """The certificate and key to serve HTTPS with, checked or made; ``None`` without TLS."""
    if settings.tls_cert is not None and settings.tls_key is not None:
        check_pair(settings.tls_cert, settings.tls_key)
        notes = []
        if key_readable_by_others(settings.tls_key):
            notes.append(f"atlas-sa: warning: the TLS key {settings.tls_key} is readable by others: chmod 600 it")
        return Serving(settings.tls_cert, settings.tls_key, notes)
    if not settings.tls_dev:
        return None
    directory = dev_directory(settings)
    try:
        dev = dev_certificates(directory, hosts_for(settings.host, settings.issuer))
    except OSError as exc:
        raise TlsError(f"cannot keep the development certificates in {directory}: {exc.strerror}") from None
    ca = shlex.quote(str(dev.ca))
    state = f"made {dev.made} now" if dev.made else "reused"
    return Serving(
        dev.cert,
        dev.key,
        [
            f"atlas-sa: HTTPS with the development CA {dev.ca} ({state}; SHA-256 {fingerprint(dev.ca)}).",
            "Clients trust it with:",
            *(f"  export {variable}={ca}" for variable in CA_VARIABLES),
        ],
    )


def dev_directory(settings: Settings) -> Path:
    """Where development certificates are kept: beside a SQLite file (``<db>.tls/``, absolute, so the same database
    always finds the same CA), or in ``ATLAS_SA_DATA_DIR``, as the development master key (atlas_sa.kit.crypto)."""
    url = parse_database_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not is_memory_sqlite(url):
        return Path(f"{url.database}.tls").absolute()
    if settings.data_dir is not None:
        return settings.data_dir / "atlas-sa.tls"
    raise TlsError(
        "ATLAS_SA_TLS_DEV keeps its CA beside a SQLite database file, or in ATLAS_SA_DATA_DIR: set it for this database"
    )


def hosts_for(host: str, issuer: str | None) -> list[str]:
    """The names a development certificate covers: loopback, the address ``serve`` listens on unless it is a
    wildcard, and the issuer's host."""
    names = list(LOOPBACK_HOSTS)
    for name in (host, urlsplit(issuer).hostname if issuer else None):
        if not name or name in ("0.0.0.0", "::"):  # noqa: S104 - recognising the wildcard, not binding to it
            continue
        ip = _ip(name)
        spelled = name.lower() if ip is None else str(ip)
        if spelled not in names:
            names.append(spelled)
    return names


def dev_certificates(directory: Path, hosts: Sequence[str], now: datetime | None = None) -> DevCertificates:
    """The development CA and server certificate in ``directory`` for ``hosts``: reused when still good, else
    made (private keys mode 0600). Several processes starting at once agree on one CA (a lock file)."""
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, ca_key_path = directory / "ca.pem", directory / "ca-key.pem"
    cert_path, key_path = directory / "server.pem", directory / "server-key.pem"
    with _locked(directory / ".lock"):
        made = ""
        ca = _load_ca(ca_path, ca_key_path, hosts, now)
        if ca is None:
            ca = _make_ca(hosts, now)
            _write(ca_key_path, _key_pem(ca[1]), private=True)
            _write(ca_path, ca[0].public_bytes(serialization.Encoding.PEM), private=False)
            made = "CA and server certificate"
        if made or not _server_is_good(cert_path, key_path, ca[0], hosts, now):
            cert, key = _make_server(ca, hosts, now)
            _write(key_path, _key_pem(key), private=True)
            _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), private=False)
            made = made or "server certificate"
    return DevCertificates(ca_path, cert_path, key_path, made)


def check_pair(cert_path: Path, key_path: Path, now: datetime | None = None) -> None:
    """Refuse a given certificate and key that TLS could not use: unreadable, not PEM, an encrypted key, a key
    that is not the certificate's, or a certificate out of its validity."""
    now = now or datetime.now(UTC)
    try:
        chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
    except OSError as exc:
        raise TlsError(f"cannot read the TLS certificate {cert_path}: {exc.strerror}") from None
    except ValueError:
        raise TlsError(f"the TLS certificate {cert_path} is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as exc:
        raise TlsError(f"cannot read the TLS key {key_path}: {exc.strerror}") from None
    except TypeError:
        raise TlsError(f"the TLS key {key_path} is encrypted: give it unencrypted, mode 0600") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsError(f"the TLS key {key_path} is not a PEM private key") from None
    leaf = chain[0]
    if leaf.public_key() != key.public_key():
        raise TlsError(f"the TLS key {key_path} is not the key of the certificate {cert_path}")
    if now >= leaf.not_valid_after_utc:
        raise TlsError(f"the TLS certificate {cert_path} expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if now < leaf.not_valid_before_utc:
        raise TlsError(f"the TLS certificate {cert_path} is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}")
    try:
        # What uvicorn will do with them: a last check that OpenSSL takes the pair.
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        raise TlsError(f"the TLS certificate {cert_path} and key {key_path} are refused by OpenSSL: {exc}") from None


def key_readable_by_others(key_path: Path) -> bool:
    return bool(key_path.stat().st_mode & 0o077)


def fingerprint(cert_path: Path) -> str:
    """The SHA-256 fingerprint of a PEM certificate, as ``openssl x509 -fingerprint -sha256`` prints it."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def _general_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        ip = _ip(host)
        names.append(x509.DNSName(host) if ip is None else x509.IPAddress(ip))
    return names


def _subtrees(hosts: Sequence[str]) -> set[x509.GeneralName]:
    """Name-constraint subtrees permitting exactly ``hosts`` (an address as a one-address network)."""
    trees: set[x509.GeneralName] = set()
    for host in hosts:
        ip = _ip(host)
        trees.add(x509.DNSName(host) if ip is None else x509.IPAddress(ipaddress.ip_network(ip)))
    return trees


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write(path: Path, data: bytes, *, private: bool) -> None:
    # Written whole under another name, then renamed into place: a reader sees the old file or the new, never half.
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    draft.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.public_key() != key.public_key():
        return None
    return cert, key


def _load_ca(
    cert_path: Path, key_path: Path, hosts: Sequence[str], now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    loaded = _load(cert_path, key_path)
    if loaded is None or loaded[0].not_valid_after_utc - _RENEW_BEFORE <= now:
        return None
    try:
        constraints = loaded[0].extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None
    return loaded if _subtrees(hosts) <= set(constraints.permitted_subtrees or ()) else None


def _server_is_good(cert_path: Path, key_path: Path, ca: x509.Certificate, hosts: Sequence[str], now: datetime) -> bool:
    loaded = _load(cert_path, key_path)
    if loaded is None or loaded[0].not_valid_after_utc - _RENEW_BEFORE <= now:
        return False
    try:
        loaded[0].verify_directly_issued_by(ca)
        names = loaded[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return set(names) == set(_general_names(hosts))


def _make_ca(hosts: Sequence[str], now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    # A name of its own, so two development CAs on one machine are never mistaken for each other.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"atlas-sa development CA {secrets.token_hex(4)}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.NameConstraints(permitted_subtrees=list(_subtrees(hosts)), excluded_subtrees=None), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_server(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], hosts: Sequence[str], now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + _SERVER_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(_general_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key
