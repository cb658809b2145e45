"""The caller of a request, handed to every service method as an argument."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

PrincipalKind = Literal["system", "service_account", "api_key"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a service account (bearer token), an API key (Digest), or the system itself
    (the CLI, which acts with full authority on the local database)."""

    kind: PrincipalKind
    id: str
    org_id: str | None = None
    org_roles: frozenset[str] = frozenset()
    project_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    client_ip: str | None = None
    # The service account's internal id, for rules about the caller's own account (its own access list).
    account_id: str | None = None
    # The API key's id, for naming it in the events it causes (``apiKeyId``).
    api_key_id: str | None = None

    @property
    def is_system(self) -> bool:
        return self.kind == "system"


SYSTEM = Principal(kind="system", id="system")
