"""schemathesis, driven by the official OpenAPI subset, against the app: no 5xx, and no response that breaks the spec.

Every one of the 22 operations gets a bounded run (:data:`MAX_EXAMPLES` generated cases, plus schemathesis's own
explicit-example and coverage cases), each request sent by the test's ``client`` with its own headers, so the run is
authenticated as that client is. A seed is made first and restored after every DELETE case: an organization, a
project, a service account assigned to it with a secret and an access-list entry. Three cases in four have their
(valid) path parameters pointed at those real objects, so that generated bodies and queries reach the rules rather
than a 404. The run prints, per operation, how many responses of each status it got; on both backends it sends
about 3,500 requests in about two minutes.

How the pieces meet: schemathesis calls a WSGI application in-process; :class:`Bridge` is one that hands each request
to the ``client`` on the test's own event loop (where the app's database engine lives), so the app under test is the
same app, database and clock as every other test's.

The spec is the official file with documented adjustments for generation (see :func:`generation_spec`).
Responses are held to the spec by schemathesis's checks and, on the way, by the suite's own stricter contract check
(:mod:`tests.contract.openapi`: closed objects, Atlas timestamps), which the client applies to every response.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckFunction

from atlas_sa.identity.roles import ORG_ROLES, PROJECT_ROLES
from tests.contract.openapi import ALWAYS_ALLOWED, drop_unicode_patterns, load_spec
from tests.contract.stats import BY_OPERATION, CURRENT, STATS
from tests.support.client import AtlasClient

MAX_EXAMPLES = 15
V2 = "/api/atlas/v2"
SEED_CIDR = "192.0.2.0/24"
HEX24 = re.compile(r"^[a-f0-9]{24}$")
CLIENT_ID = re.compile(r"^mdb_sa_id_[a-fA-F\d]{24}$")


def generation_spec() -> dict[str, Any]:
    """The official spec, adjusted where it cannot drive generation as is:

    - the name/description pattern (``\\p{L}\\p{N}…``) is dropped: Python's ``re``, which schemathesis generates
      from, has no ``\\p{…}``, and no stand-in agrees with both engines (``\\w`` is Unicode to the generator but
      ASCII to the ECMA-262 validator that judges negative cases, so ``"ýg"`` was a "violation" the server rightly
      accepts). The pattern itself is checked against a Unicode-exact oracle by ``tests/properties``.
    - the role enums the SDK's transform strips are restored (the untransformed spec's org roles, the documented
      project roles), and ``secretExpiresAfterHours`` gets the documented bounds (8 hours to the organization's
      default maximum, 8760): otherwise nearly every generated create is a (correct) 400 and the success paths go
      untested. Negative cases then also probe unknown roles and out-of-range validities.
    - ``pageNum`` gets ``minimum: 0``: 0 is the first page, as Atlas answers it (the Atlas CLI sends it at login),
      so a negative case must be a negative number, not 0.
    - every operation also lists 400, 406 and 415, as the contract check does (:data:`ALWAYS_ALLOWED`): the spec's
      error lists are not exhaustive, and ``:invite`` lists no 400 although a bad body must be refused.
    """
    spec = copy.deepcopy(load_spec())
    drop_unicode_patterns(spec)
    schemas = spec["components"]["schemas"]
    for name, roles in (
        ("OrgServiceAccountRequest", ORG_ROLES),
        ("OrgServiceAccountUpdateRequest", ORG_ROLES),
        ("GroupServiceAccountRequest", PROJECT_ROLES),
        ("GroupServiceAccountUpdateRequest", PROJECT_ROLES),
        ("GroupServiceAccountRoleAssignment", PROJECT_ROLES),
    ):
        schemas[name]["properties"]["roles"]["items"]["enum"] = list(roles)
    for name in ("OrgServiceAccountRequest", "GroupServiceAccountRequest", "ServiceAccountSecretRequest"):
        hours = schemas[name]["properties"]["secretExpiresAfterHours"]
        hours.pop("exclusiveMinimum", None)
        hours.update(minimum=8, maximum=8760)
    spec["components"]["parameters"]["pageNum"]["schema"]["minimum"] = 0
    for item in spec["paths"].values():
        for operation in item.values():
            for status in ALWAYS_ALLOWED:
                operation["responses"].setdefault(status, {"$ref": "#/components/responses/badRequest"})
    return spec


schema = schemathesis.openapi.from_dict(generation_spec())


@dataclass
class Bridge:
    """A WSGI application that forwards each request to the test's ``client`` (ASGI app) on the test's loop."""

    client: AtlasClient
    loop: asyncio.AbstractEventLoop
    sent: int = 0

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # The path as sent (werkzeug keeps it, still percent-encoded, in REQUEST_URI), then the query string.
        raw_path = (environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")).split("?", 1)[0]
        query = environ.get("QUERY_STRING")
        raw_uri = raw_path + (f"?{query}" if query else "")
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers.pop("host", None)
        request = self.client.build_request(environ["REQUEST_METHOD"], raw_uri, headers=headers, content=body)
        response: httpx.Response = self.run(self.client.send(request))
        self.sent += 1
        STATS["requests"] += 1
        status = response.status_code
        BY_OPERATION[CURRENT["operation"]][f"{status // 100}xx" if status < 400 else str(status)] += 1
        start_response(
            f"{response.status_code} {response.reason_phrase}",
            [
                (k, v)
                for k, v in response.headers.multi_items()
                if k.lower() not in ("content-length", "transfer-encoding")
            ],
        )
        return [response.content]


@dataclass
class Seed:
    """Real objects for generated requests to reach, restored before every case."""

    bridge: Bridge
    org_id: str = ""
    group_id: str = ""
    client_id: str = ""
    secret_id: str = ""

    @property
    def client(self) -> AtlasClient:
        return self.bridge.client

    async def _restore(self) -> None:
        client = self.client
        if not self.org_id:
            self.org_id = await client.create_org("schemathesis")
            self.group_id = await client.create_project(self.org_id, "fuzz")
        account = await client.get(f"{V2}/orgs/{self.org_id}/serviceAccounts/{self.client_id or 'none'}")
        if account.status_code == 404:
            made = await client.post(
                f"{V2}/orgs/{self.org_id}/serviceAccounts",
                json={"name": "seed", "description": "seed", "roles": ["ORG_MEMBER"], "secretExpiresAfterHours": 24},
            )
            assert made.status_code == 201, made.text
            self.client_id = made.json()["clientId"]
            account = made
        secrets = account.json()["secrets"]
        if not secrets:
            made = await client.post(
                f"{V2}/orgs/{self.org_id}/serviceAccounts/{self.client_id}/secrets",
                json={"secretExpiresAfterHours": 24},
            )
            assert made.status_code == 201, made.text
            secrets = [made.json()]
        self.secret_id = secrets[0]["id"]
        invite = f"{V2}/groups/{self.group_id}/serviceAccounts/{self.client_id}:invite"
        assert (await client.post(invite, json={"roles": ["GROUP_OWNER"]})).status_code == 200
        entries = f"{V2}/orgs/{self.org_id}/serviceAccounts/{self.client_id}/accessList"
        added = await client.post(entries, json=[{"cidrBlock": SEED_CIDR}])
        assert added.status_code in (200, 409), added.text

    def restore(self) -> None:
        self.bridge.run(self._restore())

    def path_values(self) -> dict[str, str]:
        return {
            "orgId": self.org_id,
            "groupId": self.group_id,
            "clientId": self.client_id,
            "secretId": self.secret_id,
            "ipAddress": SEED_CIDR.replace("/", "%2F"),
        }


def _valid_path_value(name: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if name in ("orgId", "groupId"):
        return HEX24.match(value) is not None
    if name == "clientId":
        return CLIENT_ID.match(value) is not None
    return True


def _spell_out_nulls(case: schemathesis.Case) -> None:
    """A generated ``null`` query value is reported by schemathesis as ``name=null`` but dropped by werkzeug's
    query encoding; send it as the text ``null`` so that the request made is the request checked."""
    if not isinstance(case.query, dict):
        return
    for name, value in case.query.items():
        if value is None:
            case.query[name] = "null"
        elif isinstance(value, list):
            case.query[name] = ["null" if item is None else item for item in value]


@dataclass
class Run:
    seed: Seed
    cases: int = 0
    # Whether the last case may have removed part of the seed (only DELETE operations can).
    dirty: bool = False

    def next_case(self, case: schemathesis.Case) -> bool:
        """Count ``case``; whether the seed must be restored before it runs."""
        restore, self.dirty = self.dirty, case.method.upper() == "DELETE"
        self.cases += 1
        STATS["cases"] += 1
        return restore


# Every generated case runs against the server as it is, so hypothesis keeps no example database, no deadline and no
# health check, and runs the same cases each time.
FUZZ = settings(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))


# Checks that do not apply to this spec, each for a stated reason:
# - positive_data_acceptance expects every schema-valid request to succeed, but the published spec strips its enums
#   (any string is a "valid" role), and the server applies bounds the spec leaves to the organization's settings
#   (secretExpiresAfterHours 8..max), so schema-valid requests are rightly refused with 400.
EXCLUDED: list[CheckFunction] = [schemathesis.checks.positive_data_acceptance]  # type: ignore[attr-defined]


@schema.parametrize()
@settings(FUZZ, max_examples=MAX_EXAMPLES)
@pytest.mark.slow
def test_official_spec(case: schemathesis.Case, fuzz: Run) -> None:
    seed = fuzz.seed
    if fuzz.next_case(case):
        seed.restore()
    # Three cases in four address the seed's real objects; the rest keep their generated (mostly unknown) ids.
    if fuzz.cases % 4 and case.path_parameters:
        for name, value in seed.path_values().items():
            if name in case.path_parameters and _valid_path_value(name, case.path_parameters[name]):
                case.path_parameters[name] = value
    _spell_out_nulls(case)
    CURRENT["operation"] = case.operation.definition.raw.get("operationId", case.operation.label)
    case.call_and_validate(app=seed.bridge, headers=dict(seed.client.headers), excluded_checks=EXCLUDED)
