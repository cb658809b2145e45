"""The development CA and server certificate (``atlas_sa.kit.tls``): made once, reused, made again only when they
near their end or name other hosts; and the checks on a given certificate and key. The clock is injected."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from atlas_sa.kit import tls
from atlas_sa.kit.tls import LOOPBACK_HOSTS, TlsError, check_pair, dev_certificates, fingerprint, hosts_for

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def verify(made: tls.DevCertificates, host: str, at: datetime) -> None:
    """What a client does: the server certificate, checked against the CA alone, for ``host`` (RFC 5280 path
    validation, name constraints included)."""
    name: x509.DNSName | x509.IPAddress
    try:
        name = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        name = x509.DNSName(host)
    verifier = PolicyBuilder().store(Store([cert(made.ca)])).time(at).build_server_verifier(name)
    verifier.verify(cert(made.cert), [])


def test_made_once_then_reused(tmp_path: Path) -> None:
    first = dev_certificates(tmp_path, LOOPBACK_HOSTS, T0)
    assert first.made == "CA and server certificate"
    for host in LOOPBACK_HOSTS:
        verify(first, host, T0)
    for private in (first.key, tmp_path / "ca-key.pem"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    files = {path: path.read_bytes() for path in tmp_path.glob("*.pem")}
    again = dev_certificates(tmp_path, LOOPBACK_HOSTS, T0 + timedelta(days=100))
    assert again.made == ""
    assert {path: path.read_bytes() for path in tmp_path.glob("*.pem")} == files


def test_server_certificate_renewed_by_the_same_ca_before_it_ends(tmp_path: Path) -> None:
    first = dev_certificates(tmp_path, LOOPBACK_HOSTS, T0)
    ca, old = fingerprint(first.ca), cert(first.cert)
    later = old.not_valid_after_utc - timedelta(days=10)
    renewed = dev_certificates(tmp_path, LOOPBACK_HOSTS, later)
    assert renewed.made == "server certificate"
    assert fingerprint(renewed.ca) == ca, "clients that trust the CA keep trusting the server"
    assert cert(renewed.cert).serial_number != old.serial_number
    verify(renewed, "localhost", later + timedelta(days=300))


def test_other_hosts_make_a_new_server_certificate(tmp_path: Path) -> None:
    wide = [*LOOPBACK_HOSTS, "atlas.test", "10.1.2.3"]
    first = dev_certificates(tmp_path, wide, T0)
    # Fewer names: the CA's constraints still cover them; only the server certificate changes.
    narrow = dev_certificates(tmp_path, LOOPBACK_HOSTS, T0)
    assert narrow.made == "server certificate"
    assert fingerprint(narrow.ca) == fingerprint(first.ca)
    with pytest.raises(VerificationError):
        verify(narrow, "atlas.test", T0)
    # A name the CA may not sign for: a new CA, constrained to the new names.
    other = dev_certificates(tmp_path, [*LOOPBACK_HOSTS, "other.test"], T0)
    assert other.made == "CA and server certificate"
    verify(other, "other.test", T0)


@pytest.mark.parametrize("damaged", ["server.pem", "server-key.pem", "ca.pem", "ca-key.pem"])
def test_damaged_files_are_made_again(tmp_path: Path, damaged: str) -> None:
    dev_certificates(tmp_path, LOOPBACK_HOSTS, T0)
    (tmp_path / damaged).write_text("not PEM")
    repaired = dev_certificates(tmp_path, LOOPBACK_HOSTS, T0)
    assert repaired.made == ("server certificate" if damaged.startswith("server") else "CA and server certificate")
    verify(repaired, "127.0.0.1", T0)


def test_the_ca_signs_for_nothing_but_its_hosts(tmp_path: Path) -> None:
    """A stolen copy of the CA key cannot impersonate a real site to a client that trusts the CA."""
    made = dev_certificates(tmp_path, LOOPBACK_HOSTS, T0)
    ca = tls._load(made.ca, tmp_path / "ca-key.pem")
    assert ca is not None
    forged, _key = tls._make_server(ca, ["bank.example", "203.0.113.9"], T0)
    (tmp_path / "server.pem").write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    for host in ("bank.example", "203.0.113.9"):
        with pytest.raises(VerificationError):
            verify(made, host, T0)


def test_hosts_cover_the_listening_address_and_the_issuer() -> None:
    assert hosts_for("127.0.0.1", None) == list(LOOPBACK_HOSTS)
    assert hosts_for("0.0.0.0", None) == list(LOOPBACK_HOSTS)  # noqa: S104 - the wildcard names no host
    assert hosts_for("::", "https://Atlas.Test:8443") == [*LOOPBACK_HOSTS, "atlas.test"]
    assert hosts_for("192.0.2.5", "https://[2001:db8::1]") == [*LOOPBACK_HOSTS, "192.0.2.5", "2001:db8::1"]


def test_a_given_pair_is_checked(tmp_path: Path) -> None:
    made = dev_certificates(tmp_path, LOOPBACK_HOSTS, T0)
    check_pair(made.cert, made.key, T0)
    other = ec.generate_private_key(ec.SECP256R1())
    stranger = tmp_path / "other-key.pem"
    stranger.write_bytes(
        other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    locked = tmp_path / "locked-key.pem"
    locked.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    cases = [
        (made.cert, stranger, T0, f"the TLS key {stranger} is not the key of the certificate {made.cert}"),
        (made.cert, locked, T0, f"the TLS key {locked} is encrypted: give it unencrypted, mode 0600"),
        (stranger, made.key, T0, f"the TLS certificate {stranger} is not a PEM certificate"),
        (made.cert, made.ca, T0, f"the TLS key {made.ca} is not a PEM private key"),
        (made.cert, made.key, T0 + timedelta(days=400), f"the TLS certificate {made.cert} expired on 2031-02-02"),
        (
            made.cert,
            tmp_path / "none.pem",
            T0,
            f"cannot read the TLS key {tmp_path / 'none.pem'}: No such file or directory",
        ),
    ]
    for cert_path, key_path, now, message in cases:
        with pytest.raises(TlsError) as caught:
            check_pair(cert_path, key_path, now)
        assert str(caught.value) == message
