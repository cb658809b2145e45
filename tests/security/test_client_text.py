"""Text that is not text (NUL, lone surrogates, bytes that are not UTF-8) through every string input of every route,
on both backends (``atlas_sa.kit.text``).

The inputs are read from the app itself: its route table (every route, its methods and path parameters) and the
OpenAPI document FastAPI derives from it (each operation's query parameters and JSON body schema, walked to every
string and every object key at any depth), plus what every route takes without declaring it: ``envelope`` and
``pretty``, an undeclared query parameter, its credential (Digest and Bearer on Atlas routes; HTTP Basic and the form's
``client_id``/``client_secret`` on OAuth routes) and, on OAuth routes, the form's fields. A new route or parameter is
covered without touching this file; a route outside the two families that takes input fails the test.

Each input gets exactly one answer, the same on SQLite and PostgreSQL and with or without the fast paths: 400
``INVALID_PATH_PARAMETER`` / ``INVALID_QUERY_PARAMETER`` / ``INVALID_ATTRIBUTE`` naming the input on Atlas routes,
``invalid_request`` on OAuth routes, and for a credential the 401 of its scheme, counted by the brute-force guard
(the address's next attempt, with a right credential, is refused with 429). Nothing changes in the database, and no
log record, at any level and SQLAlchemy's statement log included, holds the input (the access log's raw path aside,
where it stays percent-escaped), a traceback or a stack.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from atlas_sa.app import create_app
from atlas_sa.auth.endpoints import OAuthRoute
from atlas_sa.kit.db import Database
from atlas_sa.kit.routing import AtlasRoute
from atlas_sa.kit.violations import field_path
from atlas_sa.settings import Settings
from tests.auth.digest.helpers import DigestFields, parse_challenge
from tests.security.conftest import AppFactory
from tests.support.client import AtlasClient, ClientFactory
from tests.support.rows import snapshot
from tests.support.settings import MASTER_KEY

# Around every bad value, so a log line holding any part of an input is found. With a "~", which nothing the server
# makes holds (hex ids, lower-case public keys, base64url nonces and token ids).
MARK = "Q~Z"
# Percent-encoded, for URLs, forms and ``username*``: a NUL; a surrogate encoded as UTF-8 (not UTF-8: a codec must
# refuse it); a byte that starts no UTF-8 sequence.
ENCODED = {"nul": "%00", "surrogate": "%ED%A0%80", "not-utf8": "%FF"}
# Inside a JSON string: escapes that decode to a NUL and to a lone surrogate, and raw bytes that are not UTF-8.
JSON_ESCAPES = {"nul": b"\\u0000", "surrogate": b"\\ud800"}
JSON_RAW = {"raw-surrogate": b"\xed\xa0\x80", "not-utf8": b"\xff"}
SHOWN = f"{MARK}\ufffd{MARK}"  # how an error body names a key that is not text
PLACEHOLDER = "@@input@@"
FORM_FIELDS = ("grant_type", "token", "client_id", "client_secret")
CREDENTIAL_FIELDS = {"client_id", "client_secret"}
JSON_TYPE = {"Content-Type": "application/json"}


def _route_table() -> tuple[list[APIRoute], dict[str, Any]]:
    app = create_app(Settings(database_url="sqlite://", secret_key=MASTER_KEY))
    return list(app.state.atlas.routes), app.openapi()


ROUTES, OPENAPI = _route_table()
OPERATIONS = sorted(
    ((method, route.path_format) for route in ROUTES for method in route.methods or ()),
    key=lambda operation: (operation[1], operation[0]),
)


@dataclass
class Expected:
    status: int
    code: str | None = None  # errorCode (Atlas) or error (OAuth); None: any of the family's 400s
    parameters: list[str] | None = None
    counted: bool = False


@dataclass
class Case:
    label: str
    method: str
    path: str
    expected: Expected
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    credential: str | None = None  # "digest" or "oauth": sent from its own address, then a right one from there


# --- reading the route table ---------------------------------------------------------------------------------------


def route_of(method: str, path_format: str) -> APIRoute:
    return next(r for r in ROUTES if r.path_format == path_format and method in (r.methods or ()))


def operation(method: str, path_format: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = OPENAPI["paths"].get(path_format, {}).get(method.lower())
    return found


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = OPENAPI["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def placements(schema: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Each place a string (or an object's key) can go in a document of ``schema``: its location, and the smallest
    document holding :data:`PLACEHOLDER` there."""
    schema = resolve(schema)
    for option in (*schema.get("anyOf", ()), *schema.get("oneOf", ()), *schema.get("allOf", ())):
        yield from placements(option)
    kind = schema.get("type")
    if kind == "string":
        yield (), PLACEHOLDER
    elif kind == "object" or "properties" in schema:
        yield (PLACEHOLDER,), {PLACEHOLDER: "x"}
        for name, sub in schema.get("properties", {}).items():
            for location, value in placements(sub):
                yield (name, *location), {name: value}
    elif kind == "array":
        for location, value in placements(schema.get("items", {})):
            yield (0, *location), [value]


def body_documents(method: str, path_format: str) -> dict[tuple[str | int, ...], Any]:
    found = operation(method, path_format)
    content = (found or {}).get("requestBody", {}).get("content", {})
    if not content:
        return {}
    assert set(content) == {"application/json"}, f"{method} {path_format}: a body the sweep does not know"
    return dict(placements(content["application/json"]["schema"]))


def query_names(method: str, path_format: str) -> list[str]:
    found = operation(method, path_format) or {}
    return [p["name"] for p in found.get("parameters", []) if p["in"] == "query"]


# --- the cases -----------------------------------------------------------------------------------------------------


@dataclass
class World:
    """What the requests' valid parts name: real resources, so a request that got through would reach its lookups."""

    values: dict[str, str]
    client_id: str
    client_secret: str

    def path(self, route: APIRoute, bad: tuple[str, str] | None = None) -> str:
        path = route.path_format
        for name in route.param_convertors:
            value = bad[1] if bad is not None and bad[0] == name else self.values.get(name, "x")
            path = path.replace("{" + name + "}", value)
        return path


def _bad(encoded: str) -> str:
    return f"{MARK}{encoded}{MARK}"


def _json_body(document: Any, bad: bytes) -> bytes:
    return (
        json.dumps(document)
        .encode()
        .replace(f'"{PLACEHOLDER}"'.encode(), b'"' + MARK.encode() + bad + MARK.encode() + b'"')
    )


def atlas_cases(method: str, route: APIRoute, world: World, *, credentialed: bool) -> Iterator[Case]:
    path_format = route.path_format
    base = world.path(route)
    for name in route.param_convertors:
        for kind, encoded in ENCODED.items():
            yield Case(
                f"path {name} {kind}",
                method,
                world.path(route, (name, _bad(encoded))),
                Expected(400, "INVALID_PATH_PARAMETER", [name]),
            )
    for kind, encoded in ENCODED.items():
        for name in [*query_names(method, path_format), "envelope", "pretty", "undeclared"]:
            yield Case(
                f"query {name} {kind}",
                method,
                f"{base}?{name}={_bad(encoded)}",
                Expected(400, "INVALID_QUERY_PARAMETER", [name]),
            )
        shown = SHOWN if kind != "surrogate" else f"{MARK}\ufffd\ufffd\ufffd{MARK}"
        yield Case(
            f"query name {kind}", method, f"{base}?{_bad(encoded)}=1", Expected(400, "INVALID_QUERY_PARAMETER", [shown])
        )
    for location, document in body_documents(method, path_format).items():
        shown = field_path([SHOWN if part == PLACEHOLDER else part for part in location])
        for kind, bad in JSON_ESCAPES.items():
            yield Case(
                f"body {shown} {kind}",
                method,
                base,
                Expected(400, "INVALID_ATTRIBUTE", [shown]),
                JSON_TYPE,
                _json_body(document, bad),
            )
        for kind, bad in JSON_RAW.items():
            yield Case(f"body {shown} {kind}", method, base, Expected(400), JSON_TYPE, _json_body(document, bad))
    if not credentialed:
        return
    for kind, encoded in ENCODED.items():
        username = {"username": None, "username*": f"UTF-8''{_bad(encoded)}"}
        yield Case(
            f"digest username {kind}",
            method,
            base,
            Expected(401, "UNAUTHORIZED", counted=kind == "nul"),
            {"Authorization": DigestFields("x", "y", "NONCE", base, method).header(**username)},
            credential="digest",
        )
    yield Case("bearer nul", method, base, Expected(401, "UNAUTHORIZED"), {"Authorization": f"Bearer {MARK}\x00{MARK}"})


def oauth_cases(method: str, route: APIRoute, world: World) -> Iterator[Case]:
    base = world.path(route)
    # Every field an OAuth endpoint reads, right: with the input under test made bad, the request would succeed.
    form = {"grant_type": "client_credentials", "token": "x", "client_id": world.client_id}
    form["client_secret"] = world.client_secret
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}

    def encoded_form(pairs: dict[str, str]) -> bytes:
        # Values are already percent-encoded where they hold a bad input; the rest are plain tokens.
        return "&".join(f"{k}={v}" for k, v in pairs.items()).encode()

    post = method == "POST"
    for name in ["undeclared", "envelope"]:
        for kind, encoded in ENCODED.items():
            yield Case(
                f"query {name} {kind}",
                method,
                f"{base}?{name}={_bad(encoded)}",
                Expected(400, "invalid_request"),
                form_type if post else {},
                encoded_form(form) if post else None,
                credential="oauth" if post else None,
            )
    if not post:
        return
    for kind, encoded in ENCODED.items():
        # Only a NUL decodes; the others are not UTF-8, which makes the whole form malformed.
        for name in FORM_FIELDS:
            counted = name in CREDENTIAL_FIELDS and kind == "nul"
            expected = Expected(401, "invalid_client", counted=True) if counted else Expected(400, "invalid_request")
            yield Case(
                f"form {name} {kind}",
                method,
                base,
                expected,
                form_type,
                encoded_form({**form, name: _bad(encoded)}),
                credential="oauth" if counted else None,
            )
        yield Case(
            f"form name {kind}",
            method,
            base,
            Expected(400, "invalid_request"),
            form_type,
            encoded_form({**form, _bad(encoded): "1"}),
        )
        without_credentials = {k: v for k, v in form.items() if k not in CREDENTIAL_FIELDS}
        for half in ("id", "secret"):
            pair = (_bad(encoded), world.client_secret) if half == "id" else (world.client_id, _bad(encoded))
            counted = kind == "nul"
            yield Case(
                f"basic {half} {kind}",
                method,
                base,
                Expected(401, "invalid_client", counted=True) if counted else Expected(400, "invalid_request"),
                {**form_type, "Authorization": "Basic " + base64.b64encode(":".join(pair).encode()).decode()},
                encoded_form(without_credentials),
                credential="oauth" if counted else None,
            )
    raw = base64.b64encode(f"{MARK}\x00{MARK}:{world.client_secret}".encode()).decode()
    yield Case(
        "basic id raw nul",
        method,
        base,
        Expected(401, "invalid_client", counted=True),
        {**form_type, "Authorization": f"Basic {raw}"},
        encoded_form({"grant_type": "client_credentials", "token": "x"}),
        credential="oauth",
    )
    raw = base64.b64encode(MARK.encode() + b"\xff" + MARK.encode() + b":x").decode()
    yield Case(
        "basic id raw not-utf8",
        method,
        base,
        Expected(400, "invalid_request"),
        {**form_type, "Authorization": f"Basic {raw}"},
        encoded_form({"grant_type": "client_credentials", "token": "x"}),
    )


# --- sending -------------------------------------------------------------------------------------------------------

_addresses = (str(ipaddress.IPv4Address(0x0A000000 + n)) for n in itertools.count(1))
_NONCE = re.compile(r'nonce="[^"]*"')


def answer(response: httpx.Response) -> tuple[Any, ...]:
    """What a client sees, nonces aside."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    challenge = _NONCE.sub("nonce", response.headers.get("www-authenticate", ""))
    return (
        response.status_code,
        response.headers.get("content-type"),
        response.headers.get("x-error-code"),
        body,
        challenge,
    )


def check(case: Case, response: httpx.Response) -> None:
    expected, where = case.expected, f"{case.method} {case.path} [{case.label}]: {response.text}"
    assert response.status_code == expected.status, where
    body = response.json()
    if "errorCode" in body or "error_description" not in body:
        assert response.headers["content-type"] == "application/json", where
        assert body["error"] == expected.status, where
        if expected.code is not None:
            assert body["errorCode"] == expected.code, where
        if expected.parameters is not None:
            assert body["parameters"] == expected.parameters, where
            if expected.code == "INVALID_ATTRIBUTE":
                assert [f["field"] for f in body["badRequestDetail"]["fields"]] == expected.parameters, where
        if expected.status == 401:
            challenge = response.headers["www-authenticate"]
            assert challenge.startswith("Bearer" if case.label.startswith("bearer") else "Digest"), where
    else:
        assert expected.code is None or body["error"] == expected.code, where
        if expected.status == 401:
            assert response.headers["www-authenticate"].startswith("Basic"), where


@dataclass
class Sweep:
    apps: list[FastAPI]
    owners: list[AtlasClient]
    connect: ClientFactory
    world: World
    public_key: str
    private_key: str

    async def send(self, index: int, case: Case) -> httpx.Response:
        # A credential is tried from an address of its own, by a client sending no other credential.
        client = self.owners[index] if case.credential is None else self.connect(self.apps[index], next(_addresses))
        headers = dict(case.headers)
        if case.credential == "digest":
            nonce = parse_challenge((await client.request(case.method, case.path)).headers["www-authenticate"])["nonce"]
            headers["Authorization"] = headers["Authorization"].replace("NONCE", nonce)
        response = await client.request(case.method, case.path, headers=headers, content=case.content)
        check(case, response)
        if case.expected.counted:
            # The failure was counted: this address's next attempt, with a right credential, is refused.
            assert (await self.right_attempt(client, case)).status_code == 429, case.label
        return response

    async def right_attempt(self, client: AtlasClient, case: Case) -> httpx.Response:
        if case.credential == "digest":
            nonce = parse_challenge((await client.request(case.method, case.path)).headers["www-authenticate"])["nonce"]
            digest = DigestFields(self.public_key, self.private_key, nonce, case.path, case.method)
            return await client.request(case.method, case.path, headers={"Authorization": digest.header()})
        return await client.post(
            "/api/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.world.client_id, self.world.client_secret),
        )


@pytest.fixture
async def sweep(make_app: AppFactory, connect: ClientFactory) -> Sweep:
    # One failure empties an address's bucket, so a counted failure shows on the address's next attempt; client ids
    # are not locked out by the many attempts of one test.
    limits = {"auth_failures_per_address": 1, "auth_failures_per_client": 10**6, "auth_failure_delay_seconds": 0.0}
    apps = [make_app(**limits), make_app(fast_paths=False, **limits)]
    owner = connect(apps[0], "203.0.113.7")
    made = await owner.bootstrap("home", project_name="project-1")
    token = await owner.login(made.client_id, made.client_secret)
    other = connect(apps[1], "203.0.113.7")
    other.use_token(token)
    assert made.group_id is not None
    values = {
        "orgId": made.org_id,
        "groupId": made.group_id,
        "groupName": "project-1",
        "clientId": made.client_id,
        "secretId": "0" * 24,
        "ipAddress": "10.0.0.1",
    }
    world = World(values, made.client_id, made.client_secret)
    return Sweep(apps, [owner, other], connect, world, made.public_key, made.private_key)


@pytest.mark.parametrize(("method", "path_format"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
async def test_text_that_is_not_text_is_refused(
    sweep: Sweep, db: Database, caplog: pytest.LogCaptureFixture, method: str, path_format: str
) -> None:
    route = route_of(method, path_format)
    if isinstance(route, AtlasRoute):
        # A route takes a credential when it refuses a request without one (not every private route does).
        anonymous = await sweep.connect(sweep.apps[0], next(_addresses)).request(method, sweep.world.path(route))
        cases = list(atlas_cases(method, route, sweep.world, credentialed=anonymous.status_code == 401))
    elif isinstance(route, OAuthRoute):
        cases = list(oauth_cases(method, route, sweep.world))
    else:
        # Outside both families (the health checks): such a route must take no input at all.
        assert not route.param_convertors, path_format
        assert operation(method, path_format) is None, path_format
        assert not route.dependant.query_params, path_format
        assert not route.dependant.body_params, path_format
        return
    before = await snapshot(db)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    for case in cases:
        fast, routed = [await sweep.send(index, case) for index in (0, 1)]
        assert answer(fast) == answer(routed), case.label
    for record in caplog.records:
        if record.name.startswith(("httpx", "httpcore")):
            continue  # the test's own client, logging the URLs it sends
        message = record.getMessage()
        if record.name == "atlas_sa.access":
            # The access log writes the raw path as sent, percent-escapes and all, and no query string: an input
            # shows there only escaped, never as the character it decodes to.
            assert message.isprintable(), message
            assert "?" not in message, message
        else:
            assert MARK not in message, message
        assert record.exc_info is None, message
        assert record.exc_text is None, message
        assert record.stack_info is None, message
        assert "Traceback" not in message, message
    assert await snapshot(db) == before
