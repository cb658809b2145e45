"""The official OpenAPI subset as an executable contract for every response the test suite receives.

:class:`Contract` finds the spec operation a request addressed (method + raw path, so ``%2F`` and ``:invite`` are
seen as sent) and checks the response against it:

- the status code is one the operation lists, or 400 (see :data:`ALWAYS_ALLOWED`);
- a 204 has no body; a success body has the operation's versioned media type; an error is ``application/json``;
- the body matches the response schema, with ``envelope=true`` unwrapped first. Schemas are converted from
  OpenAPI 3.0 to JSON Schema (``nullable``, boolean ``exclusiveMinimum``) and made *closed*: an object may carry
  only the properties its schema names. The one addition allowed is ``systemManaged`` on
  ``OrgServiceAccount`` and ``GroupServiceAccount`` (a boolean), which newer Atlas releases return.
- ``date-time`` values are Atlas's form (``2024-08-02T18:07:25Z``); ``int32`` values fit in 32 bits.

Requests that address no spec operation (orgs, projects, the token endpoint, an undocumented method) pass
unchecked.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jsonschema
import yaml

SPEC_PATH = Path(__file__).with_name("atlas-admin-v2-service-accounts.openapi.yaml")
# The spec's error lists are not exhaustive (``docs/atlas-behavior.md``, The resource: ``:invite`` lists no 400).
# Three answers belong to every operation: 400 for a bad ``pageNum``/``itemsPerPage``/``envelope``/``pretty``
# (decisions table), and Atlas's versioning conventions, 406 for an unusable Accept and 415 for an unusable request
# Content-Type.
ALWAYS_ALLOWED = frozenset({"400", "406", "415"})
SUCCESS_MEDIA_TYPE = "application/vnd.atlas.2024-08-05+json"
ERROR_MEDIA_TYPE = "application/json"
ALLOWED_ADDITIONS = {"OrgServiceAccount", "GroupServiceAccount"}
ATLAS_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class ContractViolation(AssertionError):
    pass


def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return spec


def _to_json_schema(node: Any, name: str | None = None) -> Any:
    """OpenAPI 3.0 schema → JSON Schema 2020-12, closed objects."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items() if key not in ("example", "externalDocs")}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if out.get(bound) is True:
            out[bound] = out.pop(limit)
        elif out.get(bound) is False:
            del out[bound]
    if "properties" in out and out.get("type", "object") == "object":
        if name in ALLOWED_ADDITIONS:
            out["properties"]["systemManaged"] = {"type": "boolean"}
        out.setdefault("additionalProperties", False)
    return out


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date-time")
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or ATLAS_DATE_TIME.match(value) is not None

    @checker.checks("int32")
    def _int32(value: object) -> bool:
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    return checker


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    regex: re.Pattern[str]
    spec: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return str(self.spec["operationId"])

    @property
    def literal_length(self) -> int:
        return len(re.sub(r"\{[^}]+\}", "", self.template))


def _path_regex(template: str) -> re.Pattern[str]:
    pattern = ""
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{"):
            # The access-list entry may arrive with its slash encoded (%2F) or not (and IPv6 has colons); no other
            # parameter's pattern admits a colon, which starts a custom method (``:invite``).
            pattern += "(.+)" if part == "{ipAddress}" else "([^/:]+)"
        else:
            pattern += re.escape(part)
    return re.compile(f"^{pattern}$")


@dataclass
class Contract:
    spec: dict[str, Any] = field(default_factory=load_spec)
    checked: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        components = copy.deepcopy(self.spec["components"])
        components["schemas"] = {name: _to_json_schema(schema, name) for name, schema in components["schemas"].items()}
        self._components = components
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        self._checker = _format_checker()
        self.operations = [
            Operation(method.upper(), template, _path_regex(template), operation)
            for template, item in self.spec["paths"].items()
            for method, operation in item.items()
            if method in ("get", "post", "put", "patch", "delete")
        ]

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            _, section, name = node["$ref"].removeprefix("#/").split("/")
            node = self.spec["components"][section][name]
        return node

    def operation_for(self, method: str, raw_path: str) -> Operation | None:
        matches = [op for op in self.operations if op.method == method and op.regex.match(raw_path)]
        return max(matches, key=lambda op: op.literal_length, default=None)

    def _validator(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            root = {**schema, "components": self._components}
            self._validators[key] = jsonschema.Draft202012Validator(root, format_checker=self._checker)
        return self._validators[key]

    def _schema_for(self, operation: Operation, status: str) -> dict[str, Any] | None:
        response = self._resolve(operation.spec["responses"].get(status) or {})
        for media in (response.get("content") or {}).values():
            if "schema" in media:
                schema = media["schema"]
                if "$ref" not in schema:
                    schema = _to_json_schema(schema)
                return dict(schema)
        return None

    def check(self, response: httpx.Response) -> Operation | None:
        """Raise :class:`ContractViolation` when the response breaks the spec; the operation checked, if any."""
        request = response.request
        raw_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        operation = self.operation_for(request.method, raw_path)
        if operation is None:
            return None
        where = f"{request.method} {raw_path} ({operation.operation_id}) → {response.status_code}"
        status = str(response.status_code)
        listed = set(operation.spec["responses"])
        if status not in listed | ALWAYS_ALLOWED:
            raise ContractViolation(f"{where}: status not in the spec's {sorted(listed)}: {response.text[:300]}")
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
        if response.status_code == 204:
            if response.content:
                raise ContractViolation(f"{where}: a 204 with a body")
        elif response.status_code < 400:
            if media_type != SUCCESS_MEDIA_TYPE:
                raise ContractViolation(f"{where}: media type {media_type!r}, expected {SUCCESS_MEDIA_TYPE}")
        elif media_type != ERROR_MEDIA_TYPE:
            raise ContractViolation(f"{where}: error media type {media_type!r}, expected {ERROR_MEDIA_TYPE}")
        if response.status_code != 204:
            schema = (
                self._schema_for(operation, status) if status in listed else {"$ref": "#/components/schemas/ApiError"}
            )
            if schema is None:
                raise ContractViolation(f"{where}: the spec gives no schema for this status")
            body = _unwrap(response.json(), request)
            errors = list(self._validator(schema).iter_errors(body))
            if errors:
                details = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)
                raise ContractViolation(f"{where}: body does not match the schema: {details}")
        self.checked += 1
        self.by_operation[operation.operation_id] = self.by_operation.get(operation.operation_id, 0) + 1
        return operation


def _unwrap(body: Any, request: httpx.Request) -> Any:
    """The body as it would be without ``envelope=true``."""
    query = dict(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True))
    if query.get("envelope", "").lower() not in ("true", "1"):
        return body
    if not isinstance(body, dict) or "status" not in body:
        raise ContractViolation(f"envelope=true but no status in {body!r}")
    if "content" in body:
        return body["content"]
    return {k: v for k, v in body.items() if k != "status"}


@cache
def contract() -> Contract:
    return Contract()


def response_hook(target: Contract | None = None) -> Callable[[httpx.Response], Any]:
    """An httpx ``event_hooks["response"]`` entry that checks every response against the contract."""
    checked_by = target or contract()

    async def hook(response: httpx.Response) -> None:
        await response.aread()
        checked_by.check(response)

    return hook


def all_operation_ids() -> Iterator[str]:
    for operation in contract().operations:
        yield operation.operation_id


def drop_unicode_patterns(node: Any) -> None:
    """Remove, in place, every ``\\p{L}`` pattern from a spec used to *generate* requests: the generator reads
    ``\\w`` as Unicode and the negative-case check as ASCII, so it reports valid names as bad. The property tests
    cover those patterns instead."""
    if isinstance(node, dict):
        if "\\p{L}" in str(node.get("pattern", "")):
            del node["pattern"]
        for value in node.values():
            drop_unicode_patterns(value)
    elif isinstance(node, list):
        for item in node:
            drop_unicode_patterns(item)
