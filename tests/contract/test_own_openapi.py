"""schemathesis over every operation of our own OpenAPI document (``app.openapi()``): the 22 service-account
operations again, as we describe them, plus organizations, projects, organization settings and the OAuth 2.0
endpoints. Authenticated as the seed's ``ORG_OWNER``; no 5xx; no status, media type or body outside the document.

The document is used as generated, with these stated adjustments:

- FastAPI declares a 422 on every operation, which the server never sends (validation failures are Atlas's 400s):
  it is replaced by the error responses the operation can give, in Atlas's error form. For an operation of the
  official spec, its documented statuses plus 400, 406 and 415 (as the official run allows them); for the others,
  400, 401, 403, 404, 406, 409, 415 and 429.
- The OAuth endpoints read their urlencoded form themselves, so FastAPI knows no request body: the form's fields
  are declared, and the RFC 6749 §5.2 error responses (400, 401), the body limit (413) and the rate limit (429).
- the name/description pattern (``\\p{L}\\p{N}…``) is dropped, as in the official run (see its
  ``generation_spec``).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import schemathesis
from hypothesis import settings

from atlas_sa.app import create_app
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.settings import Settings
from tests.contract.openapi import ALWAYS_ALLOWED, drop_unicode_patterns, load_spec
from tests.contract.stats import CURRENT
from tests.contract.test_schemathesis import EXCLUDED, FUZZ, Run, _spell_out_nulls

MAX_EXAMPLES = 8
OAUTH_FORM_PATHS = ("/api/oauth/token", "/api/oauth/revoke", "/api/oauth/introspect")
OTHER_ERRORS = ("400", "401", "403", "404", "406", "409", "415", "429")


def own_spec() -> dict[str, Any]:
    app = create_app(Settings(secret_key="openapi-only-0123456789abcdefghij"))
    spec = copy.deepcopy(app.openapi())
    official = load_spec()
    official_statuses = {
        operation["operationId"]: set(operation["responses"])
        for item in official["paths"].values()
        for operation in item.values()
    }
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["AtlasApiError"] = copy.deepcopy(official["components"]["schemas"]["ApiError"])
    schemas["AtlasApiError"]["properties"]["badRequestDetail"] = {"type": "object"}
    schemas["OAuthError"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    }

    def error(schema_name: str, description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
        }

    for path, item in spec["paths"].items():
        for operation in item.values():
            responses = operation["responses"]
            responses.pop("422", None)
            if path in OAUTH_FORM_PATHS:
                operation["requestBody"] = {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    name: {"type": "string"}
                                    for name in ("grant_type", "client_id", "client_secret", "token", "scope")
                                },
                            }
                        }
                    }
                }
                for status in ("400", "401"):
                    responses[status] = error("OAuthError", "RFC 6749 §5.2 error")
                for status in ("413", "429"):
                    responses[status] = error("AtlasApiError", "Atlas error")
                continue
            if not path.startswith("/api/atlas/v2"):
                continue
            statuses = official_statuses.get(operation.get("operationId", ""), set(OTHER_ERRORS))
            for status in sorted((statuses | ALWAYS_ALLOWED) - {"200", "201", "202", "204"}):
                responses.setdefault(status, error("AtlasApiError", "Atlas error"))
    drop_unicode_patterns(spec)
    return spec


schema = schemathesis.openapi.from_dict(own_spec())


def _restore(run: Run) -> None:
    """The seed, with its project recreated if a ``deleteProject`` case removed it."""
    seed = run.seed

    async def project_back() -> None:
        client = seed.client
        response = await client.get(f"/api/atlas/v2/groups/{seed.group_id}")
        if response.status_code == 404:
            seed.group_id = await client.create_project(seed.org_id, "fuzz")

    seed.bridge.run(project_back())
    seed.restore()


@schema.parametrize()
@settings(FUZZ, max_examples=MAX_EXAMPLES)
@pytest.mark.slow
def test_own_openapi(case: schemathesis.Case, fuzz: Run, clock: FrozenClock) -> None:
    seed = fuzz.seed
    if fuzz.next_case(case):
        _restore(fuzz)
    # Our document declares no patterns for ids, so generated ids are mostly malformed: three cases in four
    # address the seed's real objects whatever was generated; the rest keep it (and get 404s).
    if fuzz.cases % 4 and case.path_parameters:
        values = seed.path_values() | {"groupName": "fuzz"}
        for name, value in values.items():
            if name in case.path_parameters:
                case.path_parameters[name] = value
    # Twelve seconds per case: one token back in the smallest bucket (organization settings, 5 per 60 s), so the
    # run exercises the rules rather than 429s; an operation's ~90 cases stay within its token's hour.
    clock.advance(seconds=12)
    _spell_out_nulls(case)
    CURRENT["operation"] = "own:" + case.operation.definition.raw.get("operationId", case.operation.label)
    headers = dict(seed.client.headers)
    if case.path in OAUTH_FORM_PATHS:
        # Client authentication is in the generated form; a bearer token there would be refused as a third method.
        headers.pop("authorization", None)
    case.call_and_validate(app=seed.bridge, headers=headers, excluded_checks=EXCLUDED)
