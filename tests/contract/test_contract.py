"""The contract check itself: it must accept what the spec allows and catch what it does not."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from atlas_sa.app import create_app
from atlas_sa.settings import Settings
from tests.contract.openapi import Contract, ContractViolation, contract

ORG = "5" * 24
CLIENT = "mdb_sa_id_" + "6" * 24
SUCCESS = "application/vnd.atlas.2024-08-05+json;charset=utf-8"


def reply(
    method: str, path: str, status: int, body: Any = None, *, media_type: str | None = None, query: str = ""
) -> httpx.Response:
    url = f"http://atlas.test/api/atlas/v2{path}" + (f"?{query}" if query else "")
    response = (
        httpx.Response(status, json=body, request=httpx.Request(method, url))
        if body is not None
        else (httpx.Response(status, request=httpx.Request(method, url)))
    )
    if media_type or body is not None:
        response.headers["content-type"] = media_type or (SUCCESS if status < 400 else "application/json")
    return response


def account(**overrides: Any) -> dict[str, Any]:
    body = {
        "clientId": CLIENT,
        "createdAt": "2026-01-15T12:00:00Z",
        "description": "d",
        "name": "n",
        "roles": ["ORG_OWNER"],
        "secrets": [
            {
                "createdAt": "2026-01-15T12:00:00Z",
                "expiresAt": "2026-01-16T12:00:00Z",
                "id": "7" * 24,
                "maskedSecretValue": "mdb_sa_sk_...abcd",
            }
        ],
        "systemManaged": False,
    }
    body.update(overrides)
    return body


ERROR = {"detail": "x", "error": 400, "errorCode": "INVALID_ATTRIBUTE", "parameters": ["name"], "reason": "Bad Request"}


@pytest.fixture
def spec() -> Contract:
    return contract()


def test_all_22_operations_are_known(spec: Contract) -> None:
    assert len(spec.operations) == 22
    assert len({op.operation_id for op in spec.operations}) == 22


def test_a_conforming_account(spec: Contract) -> None:
    operation = spec.check(reply("GET", f"/orgs/{ORG}/serviceAccounts/{CLIENT}", 200, account()))
    assert operation is not None
    assert operation.operation_id == "getOrgServiceAccount"


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (account(extra=1), "extra"),
        (account(systemManaged="no"), "systemManaged"),
        (account(clientId="abc"), "clientId"),
        (account(createdAt="2026-01-15T12:00:00.5+00:00"), "createdAt"),
        (account(createdAt="yesterday"), "createdAt"),
        (account(roles=["A", "A"]), "roles"),
        (account(secrets=[{"createdAt": "2026-01-15T12:00:00Z", "id": "7" * 24}]), "expiresAt"),
        (account(secrets=[{**account()["secrets"][0], "id": "XYZ"}]), "id"),
    ],
)
def test_schema_violations_are_caught(spec: Contract, body: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ContractViolation, match=complaint):
        spec.check(reply("GET", f"/orgs/{ORG}/serviceAccounts/{CLIENT}", 200, body))


def test_status_codes(spec: Contract) -> None:
    with pytest.raises(ContractViolation, match="status"):
        spec.check(reply("GET", f"/orgs/{ORG}/serviceAccounts/{CLIENT}", 201, account()))
    with pytest.raises(ContractViolation, match="status"):
        spec.check(reply("POST", f"/orgs/{ORG}/serviceAccounts", 409, {**ERROR, "error": 409}))
    spec.check(reply("POST", f"/orgs/{ORG}/serviceAccounts/{CLIENT}/accessList", 409, {**ERROR, "error": 409}))
    # 400 is allowed everywhere (bad paging or format parameters), with the error schema.
    spec.check(reply("GET", f"/orgs/{ORG}/serviceAccounts/{CLIENT}", 400, ERROR))
    with pytest.raises(ContractViolation, match="error"):
        spec.check(reply("GET", f"/orgs/{ORG}/serviceAccounts/{CLIENT}", 404, {"detail": "no code"}))


def test_media_types_and_empty_204(spec: Contract) -> None:
    path = f"/orgs/{ORG}/serviceAccounts/{CLIENT}"
    with pytest.raises(ContractViolation, match="media type"):
        spec.check(reply("GET", path, 200, account(), media_type="application/json"))
    with pytest.raises(ContractViolation, match="media type"):
        spec.check(reply("GET", path, 404, ERROR, media_type=SUCCESS))
    spec.check(reply("DELETE", path, 204))
    bad = httpx.Response(204, content=b"{}", request=httpx.Request("DELETE", f"http://atlas.test/api/atlas/v2{path}"))
    with pytest.raises(ContractViolation, match="204"):
        spec.check(bad)


def test_paths_are_matched_as_sent(spec: Contract) -> None:
    invite = spec.check(reply("POST", f"/groups/{ORG}/serviceAccounts/{CLIENT}:invite", 200, account()))
    assert invite is not None
    assert invite.operation_id == "inviteGroupServiceAccount"
    entry = spec.check(reply("DELETE", f"/orgs/{ORG}/serviceAccounts/{CLIENT}/accessList/192.0.2.0%2F24", 204))
    assert entry is not None
    assert entry.operation_id == "deleteOrgAccessEntry"
    assert spec.check(reply("GET", f"/groups/{ORG}/serviceAccounts/{CLIENT}:invite", 405, ERROR)) is None
    assert spec.check(reply("GET", f"/orgs/{ORG}", 200, {"id": ORG})) is None


def test_envelopes_are_unwrapped(spec: Contract) -> None:
    path = f"/orgs/{ORG}/serviceAccounts/{CLIENT}"
    spec.check(reply("GET", path, 200, {"status": 200, "content": account()}, query="envelope=true"))
    with pytest.raises(ContractViolation):
        spec.check(reply("GET", path, 200, {"status": 200, "content": account(extra=1)}, query="envelope=true"))
    listed = {"links": [], "results": [account()], "totalCount": 1, "status": 200}
    spec.check(reply("GET", f"/orgs/{ORG}/serviceAccounts", 200, listed, query="envelope=true"))
    with pytest.raises(ContractViolation, match="status"):
        spec.check(reply("GET", f"/orgs/{ORG}/serviceAccounts", 200, listed))


def test_our_openapi_names_the_same_operations(tmp_path: object) -> None:
    """Our generated OpenAPI has each official operation at the same method and path, under its operationId."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/openapi.db", secret_key="k" * 32))
    ours = {
        operation["operationId"]: (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    }
    for operation in contract().operations:
        assert ours.get(operation.operation_id) == (operation.method, operation.template), operation.operation_id
