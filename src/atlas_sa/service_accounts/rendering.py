"""The API's representations of service accounts and their secrets, built from what the service returns, and the
request bodies turned into the service's inputs: what the endpoints answer and the operator's command line prints
(``--json``). Nothing of FastAPI here, so a command line process never loads it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from atlas_sa.kit.rendering import to_jsonable
from atlas_sa.models import ServiceAccountSecret as SecretRow
from atlas_sa.service_accounts.repository import ListedPage
from atlas_sa.service_accounts.schemas import (
    GroupServiceAccountRequest,
    GroupServiceAccountUpdateRequest,
    OrgServiceAccountRequest,
    OrgServiceAccountUpdateRequest,
    ServiceAccountSecret,
)
from atlas_sa.service_accounts.service import AccountChanges, AccountView, IssuedSecret, NewAccount, masked


def _timestamp(when: datetime) -> str:
    # What pydantic writes for a datetime in JSON mode, which these responses were rendered through before: ISO
    # 8601 with "Z" for UTC (the only zone stored values come back in), microseconds only when there are any.
    text = when.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def secret_schema(secret: SecretRow) -> dict[str, object]:
    """A stored secret as :class:`ServiceAccountSecret` renders it: masked, never its value.

    This and the account renderers below build the response dicts themselves: validating and dumping a pydantic
    model per account and per secret cost a list page of 100 accounts a tenth of its CPU. What they build is what
    the schemas produce, byte for byte (tests/service_accounts/test_rendering.py): camelCase keys, absent values
    left out, timestamps as above. The schemas still describe the responses in the OpenAPI document.
    """
    fields: dict[str, object] = {
        "createdAt": _timestamp(secret.created_at),
        "expiresAt": _timestamp(secret.expires_at),
        "id": secret.id,
        "maskedSecretValue": masked(secret),
    }
    if secret.last_used_at is not None:
        fields["lastUsedAt"] = _timestamp(secret.last_used_at)
    return fields


def issued_secret_schema(issued: IssuedSecret) -> ServiceAccountSecret:
    """The one response that shows a secret: its value, and no mask (as Atlas's create responses)."""
    return ServiceAccountSecret.model_validate(
        {
            "createdAt": issued.secret.created_at,
            "expiresAt": issued.secret.expires_at,
            "id": issued.secret.id,
            "secret": issued.value,
        }
    )


def _account_fields(view: AccountView) -> dict[str, object]:
    """An account as :class:`OrgServiceAccount` and :class:`GroupServiceAccount` render it (the two are alike)."""
    account = view.account
    issued = view.issued
    secrets = [
        to_jsonable(issued_secret_schema(issued))
        if issued is not None and s.id == issued.secret.id
        else secret_schema(s)
        for s in view.secrets
    ]
    return {
        "clientId": account.client_id,
        "createdAt": _timestamp(account.created_at),
        "description": account.description,
        "name": account.name,
        "roles": view.roles,
        "secrets": secrets,
        "systemManaged": account.system_managed,
    }


def org_account_schema(view: AccountView) -> dict[str, object]:
    """An :class:`OrgServiceAccount`."""
    return _account_fields(view)


def group_account_schema(view: AccountView) -> dict[str, object]:
    """A :class:`GroupServiceAccount`."""
    return _account_fields(view)


def listed_accounts(listed: ListedPage) -> list[dict[str, Any]]:
    """A list page's accounts as data, as :func:`~atlas_sa.service_accounts.endpoints.listed_page` writes them (the
    command line's tables and ``--json``)."""
    accounts: list[dict[str, Any]] = orjson.loads(listed.results)
    return accounts


def new_account(body: OrgServiceAccountRequest | GroupServiceAccountRequest) -> NewAccount:
    return NewAccount(
        name=body.name,
        description=body.description,
        roles=body.roles,
        secret_expires_after_hours=body.secret_expires_after_hours
        if "secret_expires_after_hours" in body.model_fields_set
        else None,
        without_initial_secret=body.without_initial_secret,
    )


def account_changes(body: OrgServiceAccountUpdateRequest | GroupServiceAccountUpdateRequest) -> AccountChanges:
    sent = body.model_fields_set
    return AccountChanges(
        name=body.name if "name" in sent else None,
        description=body.description if "description" in sent else None,
        roles=body.roles if "roles" in sent else None,
    )
