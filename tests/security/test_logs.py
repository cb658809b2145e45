"""A real ``atlas-sa serve`` with ``ATLAS_SA_LOG_FORMAT=json`` at DEBUG: after traffic that succeeds and fails in
each authentication scheme, every line on its stderr is one JSON object with ``time``, ``level``, ``logger`` and
``message``; each response's request id is on its access-log line (with the method, route template, status, duration
and caller) and on the authentication failure it caused; and no credential appears anywhere (ASVS V16)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.digest.helpers import DigestFields, parse_challenge
from tests.security.leaks import assert_absent
from tests.support.client import TOKEN_PATH, basic
from tests.support.server import bootstrap, live_server

pytestmark = pytest.mark.slow

V2 = "/api/atlas/v2"
ACCEPT = {"Accept": "application/vnd.atlas.2025-03-12+json"}
GRANT = {"grant_type": "client_credentials"}
ENV = {
    "ATLAS_SA_SECRET_KEY": "logs-test-master-key-0123456789ab",
    "ATLAS_SA_LOG_LEVEL": "debug",
    "ATLAS_SA_LOG_FORMAT": "json",
    "ATLAS_SA_AUTH_FAILURE_DELAY_SECONDS": "0",
}


def test_json_lines_carry_the_request_id_and_no_secret(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'logs.db'}"
    made = bootstrap(url, ENV)
    client_id, secret = made["clientId"], made["clientSecret"]
    public_key, private_key = made["publicKey"], made["privateKey"]
    with live_server(url, env=ENV) as server:
        sent: dict[str, httpx.Response] = {}
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            sent["token"] = http.post(
                TOKEN_PATH, data=GRANT, auth=(client_id, secret), headers={"X-Request-Id": "client-chosen-1"}
            )
            access_token = sent["token"].json()["access_token"]
            sent["wrong secret"] = http.post(TOKEN_PATH, data=GRANT, auth=(client_id, secret + "x"))
            sent["swapped"] = http.post(TOKEN_PATH, data=GRANT, headers=basic(secret, client_id))
            bearer = {"Authorization": f"Bearer {access_token}", **ACCEPT}
            account = f"{V2}/orgs/{made['orgId']}/serviceAccounts/{client_id}"
            sent["routed read"] = http.get(account, headers=bearer)
            sent["fast read"] = http.get(account, headers=bearer)
            sent["bad token"] = http.get(account, headers={**bearer, "Authorization": f"Bearer {access_token}x"})
            path = f"{V2}/orgs/{made['orgId']}"
            sent["challenge"] = http.get(path, headers=ACCEPT)
            nonce = parse_challenge(sent["challenge"].headers["www-authenticate"])["nonce"]
            wrong = DigestFields(public_key, private_key + "x", nonce, path).header()
            sent["wrong key"] = http.get(path, headers={"Authorization": wrong, **ACCEPT})
            right = DigestFields(public_key, private_key, nonce, path).header()
            sent["digest"] = http.get(path, headers={"Authorization": right, **ACCEPT})
            sent["404"] = http.get(f"{V2}/nowhere/{client_id}", headers=bearer)
            sent["revoke"] = http.post("/api/oauth/revoke", data={"token": access_token}, auth=(client_id, secret))
        output = server.log().encode()
    assert {name: r.status_code for name, r in sent.items()} == {
        "token": 200,
        "wrong secret": 401,
        "swapped": 401,
        "routed read": 200,
        "fast read": 200,
        "bad token": 401,
        "challenge": 401,
        "wrong key": 401,
        "digest": 200,
        "404": 404,
        "revoke": 200,
    }
    lines: list[dict[str, Any]] = [json.loads(line) for line in output.decode().splitlines() if line.strip()]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's own lines, in the same form
    assert any(line["logger"] == "atlas_sa.serve" and "serving on" in line["message"] for line in lines)

    access = {line["request_id"]: line for line in lines if line["logger"] == "atlas_sa.access"}
    assert sent["token"].headers["x-request-id"] == "client-chosen-1"
    account_route = "/api/atlas/v2/orgs/{orgId}/serviceAccounts/{clientId}"
    expected = {
        "token": ("POST", TOKEN_PATH, client_id),
        "wrong secret": ("POST", TOKEN_PATH, client_id),
        "swapped": ("POST", TOKEN_PATH, None),
        "routed read": ("GET", account_route, client_id),
        "fast read": ("GET", account_route, client_id),
        "bad token": ("GET", account_route, None),
        "digest": ("GET", "/api/atlas/v2/orgs/{orgId}", public_key),
        "404": ("GET", "unrouted", None),
        "revoke": ("POST", "/api/oauth/revoke", client_id),
    }
    for name, (method, route, caller) in expected.items():
        line = access[sent[name].headers["x-request-id"]]
        assert (line["level"], line["method"], line["route"], line["status"]) == (
            "INFO",
            method,
            route,
            sent[name].status_code,
        ), name
        assert line["caller"] == caller, name
        assert isinstance(line["duration_ms"], float), name

    failures = {line["request_id"]: line for line in lines if line["logger"] == "atlas_sa.auth.failures"}
    for name, scheme, shown in (
        ("wrong secret", "oauth", client_id),
        ("swapped", "oauth", "(not an id)"),
        ("bad token", "bearer", "-"),
        ("wrong key", "digest", public_key),
    ):
        line = failures[sent[name].headers["x-request-id"]]
        assert (line["level"], line["event"], line["scheme"], line["client"]) == (
            "WARNING",
            "authentication_failed",
            scheme,
            shown,
        ), name
        assert line["client_address"] == "127.0.0.1"

    secrets = {"client secret": secret, "API private key": private_key, "access token": access_token}
    assert_absent(output, secrets, "the server's JSON log")
