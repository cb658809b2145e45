"""``atlas-sa serve`` over HTTPS, as official clients use it: real processes, certificate verification on, and every
URL the server writes (token issuer, metadata, ``links``) naming ``https://``."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
from pathlib import Path

import httpx
import jwt
import pytest

from atlas_sa.kit.tls import LOOPBACK_HOSTS, dev_certificates, fingerprint
from tests.support.client import accept
from tests.support.server import ATLAS_SA, bootstrap, free_port, live_server, trusting

MASTER_KEY = "https-test-master-key-0123456789"


def check_https_flow(base_url: str, ca: Path, made: dict[str, str]) -> None:
    """Metadata, a token and a read, each verified against ``ca``; every URL in them names ``base_url``."""
    with httpx.Client(base_url=base_url, verify=trusting(ca)) as client:
        metadata = client.get("/.well-known/oauth-authorization-server").json()
        assert metadata["issuer"] == base_url
        for endpoint in ("token_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint"):
            assert metadata[endpoint].startswith(f"{base_url}/api/oauth/"), metadata
        granted = client.post(
            "/api/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(made["clientId"], made["clientSecret"]),
        )
        assert granted.status_code == 200, granted.text
        token = granted.json()["access_token"]
        assert jwt.decode(token, options={"verify_signature": False})["iss"] == base_url
        orgs = client.get("/api/atlas/v2/orgs", headers={**accept("2023-01-01"), "Authorization": f"Bearer {token}"})
        assert orgs.status_code == 200, orgs.text
        assert [link["href"] for link in orgs.json()["links"]] == [
            f"{base_url}/api/atlas/v2/orgs?pageNum=1&itemsPerPage=100"
        ]


def test_development_https_is_verified_and_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dev.db'}"
    ca = tmp_path / "dev.db.tls" / "ca.pem"
    made = bootstrap(url, {})
    with live_server(url, args=["--tls-dev"], ca=ca) as server:
        assert server.base_url.startswith("https://")
        check_https_flow(server.base_url, ca, made)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            # Verification is on: the system's trust store alone does not know the development CA.
            httpx.get(f"{server.base_url}/healthz")
        first = fingerprint(ca), (tmp_path / "dev.db.tls" / "server.pem").read_bytes()
        said = server.log()
    assert (
        f"atlas-sa: HTTPS with the development CA {ca} (made CA and server certificate now; SHA-256 {first[0]})" in said
    )
    for variable in ("SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        assert f"  export {variable}={ca}\n" in said
    for private in ("ca-key.pem", "server-key.pem"):
        assert stat.S_IMODE((tmp_path / "dev.db.tls" / private).stat().st_mode) == 0o600
    # Restarted (the setting from the environment this time): the same CA and certificate, which clients trust.
    with live_server(url, env={"ATLAS_SA_TLS_DEV": "true"}, ca=ca) as server:
        assert (fingerprint(ca), (tmp_path / "dev.db.tls" / "server.pem").read_bytes()) == first
        check_https_flow(server.base_url, ca, made)
        assert f"{ca} (reused; SHA-256 {first[0]})" in server.log()


def test_development_https_on_postgresql_keeps_its_ca_in_the_data_dir(tmp_path: Path, own_postgres: str) -> None:
    (tmp_path / "data").mkdir(mode=0o700)
    env = {"ATLAS_SA_DATA_DIR": str(tmp_path / "data")}
    made = bootstrap(own_postgres, env)
    ca = tmp_path / "data" / "atlas-sa.tls" / "ca.pem"
    with live_server(own_postgres, env={**env, "ATLAS_SA_TLS_DEV": "1"}, ca=ca) as server:
        check_https_flow(server.base_url, ca, made)
    # Without a data folder there is nowhere to keep a CA that clients can go on trusting.
    result = subprocess.run(
        [ATLAS_SA, "serve", "--tls-dev", "--port", str(free_port()), "--database-url", own_postgres],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ["PATH"], "ATLAS_SA_SECRET_KEY": MASTER_KEY},
    )
    assert result.returncode == 2
    assert result.stderr == (
        "atlas-sa: error: ATLAS_SA_TLS_DEV keeps its CA beside a SQLite database file, or in ATLAS_SA_DATA_DIR: "
        "set it for this database\n"
    )


def test_a_given_certificate_and_key(tmp_path: Path, own_database: str) -> None:
    certs = dev_certificates(tmp_path / "pki", LOOPBACK_HOSTS)
    url = own_database
    env = {"ATLAS_SA_SECRET_KEY": MASTER_KEY}
    made = bootstrap(url, env)
    args = ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key)]
    with live_server(url, env=env, args=args, ca=certs.ca) as server:
        check_https_flow(server.base_url, certs.ca, made)
    # The same from the environment, with a public issuer: it is what tokens and links name.
    port = free_port()
    issuer = f"https://localhost:{port}"
    env |= {"ATLAS_SA_TLS_CERT": str(certs.cert), "ATLAS_SA_TLS_KEY": str(certs.key), "ATLAS_SA_ISSUER": issuer}
    with live_server(url, env=env, port=port, ca=certs.ca):
        check_https_flow(issuer, certs.ca, made)


def test_only_forward_secret_aead_suites(tmp_path: Path) -> None:
    """TLS 1.3, and TLS 1.2 with ECDHE and AES-GCM, are served; TLS 1.2 with CBC and SHA-1 is refused. uvicorn's
    default cipher string did the opposite for TLS 1.2: CBC only, no AES-GCM."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    ca = tmp_path / "c.db.tls" / "ca.pem"
    with live_server(url, args=["--tls-dev"], ca=ca) as server:
        port = int(server.base_url.rsplit(":", 1)[1])

        def handshake(maximum: ssl.TLSVersion, ciphers: str | None) -> str | None:
            context = trusting(ca)
            context.maximum_version = maximum
            if ciphers:
                context.set_ciphers(ciphers)
            with (
                socket.create_connection(("127.0.0.1", port)) as raw,
                context.wrap_socket(raw, server_hostname="localhost") as wrapped,
            ):
                cipher = wrapped.cipher()
                return cipher[0] if cipher else None

        assert handshake(ssl.TLSVersion.TLSv1_3, None) == "TLS_AES_256_GCM_SHA384"
        assert handshake(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256") == "ECDHE-ECDSA-AES128-GCM-SHA256"
        with pytest.raises(ssl.SSLError):
            handshake(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--tls-cert", "{cert}"], {}, "ATLAS_SA_TLS_CERT and ATLAS_SA_TLS_KEY go together: set both or neither"),
        (
            ["--tls-dev", "--tls-cert", "{cert}", "--tls-key", "{key}"],
            {},
            "ATLAS_SA_TLS_DEV makes its own certificate: set it or ATLAS_SA_TLS_CERT, not both",
        ),
        (
            ["--tls-dev"],
            {"ATLAS_SA_PROFILE": "production", "ATLAS_SA_SECRET_KEY": MASTER_KEY},
            "ATLAS_SA_TLS_DEV is for development: in production set ATLAS_SA_TLS_CERT and _KEY",
        ),
        (
            ["--tls-dev"],
            {"ATLAS_SA_ISSUER": "http://atlas.example.com"},
            "ATLAS_SA_ISSUER must be an https:// URL when TLS is on",
        ),
        (["--tls-cert", "{cert}", "--tls-key", "{tmp}/none.pem"], {}, "--tls-key: must name an existing file"),
        (
            ["--tls-cert", "{cert}", "--tls-key", "{ca}"],
            {},
            "the TLS key {ca} is not a PEM private key",
        ),
    ],
)
def test_tls_misconfiguration_is_one_line(tmp_path: Path, args: list[str], env: dict[str, str], message: str) -> None:
    certs = dev_certificates(tmp_path / "pki", LOOPBACK_HOSTS)
    names = {"cert": certs.cert, "key": certs.key, "ca": certs.ca, "tmp": tmp_path}
    result = subprocess.run(
        [ATLAS_SA, "serve", "--port", str(free_port()), "--database-url", f"sqlite:///{tmp_path / 'x.db'}"]
        + [arg.format(**names) for arg in args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ["PATH"], **env},
    )
    assert result.returncode == 2
    assert result.stderr == f"atlas-sa: error: {message.format(**names)}\n"
    assert not (tmp_path / "x.db").exists()
