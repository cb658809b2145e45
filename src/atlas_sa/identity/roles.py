"""Atlas roles and the minimum-role requirements of each operation (``x-rolesRequirements`` in the spec).

The hierarchy (docs ``reference/user-roles``): ``ORG_OWNER`` is Project Owner on every project; ``ORG_READ_ONLY``
reads every project; every project role includes Project Read Only; ``GROUP_OWNER`` includes project access
management. A credential never reaches an organization other than its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from atlas_sa.errors import UserUnauthorized
from atlas_sa.identity.principal import Principal

ORG_ROLES = (
    "ORG_MEMBER",
    "ORG_READ_ONLY",
    "ORG_BILLING_ADMIN",
    "ORG_BILLING_READ_ONLY",
    "ORG_STREAM_PROCESSING_ADMIN",
    "ORG_GROUP_CREATOR",
    "ORG_OWNER",
)

PROJECT_ROLES = (
    "GROUP_OWNER",
    "GROUP_CLUSTER_MANAGER",
    "GROUP_STREAM_PROCESSING_OWNER",
    "GROUP_DATA_ACCESS_ADMIN",
    "GROUP_DATA_ACCESS_READ_WRITE",
    "GROUP_DATA_ACCESS_READ_ONLY",
    "GROUP_DATABASE_ACCESS_ADMIN",
    "GROUP_BACKUP_MANAGER",
    "GROUP_OBSERVABILITY_VIEWER",
    "GROUP_READ_ONLY",
    "GROUP_SEARCH_INDEX_EDITOR",
    "GROUP_REPLICA_SET_MANAGER",
    "GROUP_CLUSTER_CREATOR",
    "GROUP_CLUSTER_LOG_VIEWER",
    "GROUP_CLUSTER_RESILIENCE_TESTER",
    "GROUP_ACCESS_MANAGER",
    "GROUP_BACKUP_CREATOR",
    "GROUP_BACKUP_RECOVERY_OPERATOR",
    "GROUP_BACKUP_EXPORT_OPERATOR",
    "GROUP_NETWORK_ACCESS_MANAGER",
    "GROUP_TRIGGER_MANAGER",
    "GROUP_INDEX_MANAGER",
    "GROUP_REAL_TIME_PERFORMANCE_OPERATOR",
    "GROUP_SUPPORT_ACCESS_MANAGER",
    "GROUP_ALERTS_MANAGER",
    "GROUP_MODEL_OWNER",
)


# What every account of an organization holds there; an account holding only this has nothing beyond its projects.
MEMBER_ORG_ROLES = frozenset({"ORG_MEMBER"})


class Requirement(StrEnum):
    """The role strings of the spec's ``x-rolesRequirements``."""

    ORG_OWNER = "Organization Owner"
    ORG_READ_ONLY = "Organization Read Only"
    ORG_MEMBER = "Organization Member"
    ORG_GROUP_CREATOR = "Organization Project Creator"
    PROJECT_OWNER = "Project Owner"
    PROJECT_ACCESS_MANAGER = "Project Access Manager"
    PROJECT_READ_ONLY = "Project Read Only"


_ORG_READERS = frozenset({"ORG_OWNER", "ORG_READ_ONLY", "ORG_STREAM_PROCESSING_ADMIN"})


def satisfies(caller: Principal, requirement: Requirement, org_id: str, project_id: str | None = None) -> bool:
    if caller.is_system:
        return True
    if caller.org_id != org_id:
        return False
    org_roles = caller.org_roles
    if "ORG_OWNER" in org_roles:
        return True
    project_roles = caller.project_roles.get(project_id, frozenset()) if project_id else frozenset()
    match requirement:
        case Requirement.ORG_OWNER:
            return False
        case Requirement.ORG_READ_ONLY:
            return bool(org_roles & _ORG_READERS)
        case Requirement.ORG_MEMBER:
            return bool(org_roles)
        case Requirement.ORG_GROUP_CREATOR:
            return "ORG_GROUP_CREATOR" in org_roles
        case Requirement.PROJECT_OWNER:
            return "GROUP_OWNER" in project_roles
        case Requirement.PROJECT_ACCESS_MANAGER:
            return bool(project_roles & {"GROUP_OWNER", "GROUP_ACCESS_MANAGER"})
        case Requirement.PROJECT_READ_ONLY:
            return bool(project_roles) or bool(org_roles & _ORG_READERS)


def authorize(caller: Principal, requirement: Requirement, org_id: str, project_id: str | None = None) -> None:
    """Raise 401 ``USER_UNAUTHORIZED`` unless the caller holds ``requirement`` (or a superior role) there."""
    if not satisfies(caller, requirement, org_id, project_id):
        raise UserUnauthorized


def authorize_account_change(
    caller: Principal, org_id: str, account_org_roles: Iterable[str], *, in_other_projects: bool
) -> None:
    """A write through a project path that changes the account itself (its name, description, secrets or access
    list) rather than its membership of that project: the caller's authority must cover what the account holds
    beyond the project, or a project role could act for (mint credentials of, lift the IP restriction of, lock
    out, rename) an account with more power than its own.

    Beyond the project means an organization role other than ``ORG_MEMBER`` (which every account of the
    organization holds) or roles in another project. Whatever that is, Organization Owner covers it, and it is
    what Atlas documents ("shared service accounts": managing a project account that has access to the
    organization or to other projects requires Organization Owner). Role sets are compared no finer than that:
    only ``ORG_OWNER`` is sure to hold everything an account can hold. An account with nothing beyond the
    project needs only the operation's own project role. 401 ``USER_UNAUTHORIZED`` otherwise.
    """
    if in_other_projects or set(account_org_roles) - MEMBER_ORG_ROLES:
        authorize(caller, Requirement.ORG_OWNER, org_id)


def visible_project_ids(caller: Principal) -> frozenset[str] | None:
    """Projects the caller may list explicitly; ``None`` means every project of the caller's organization."""
    if caller.is_system or caller.org_roles & _ORG_READERS:
        return None
    return frozenset(caller.project_roles)
