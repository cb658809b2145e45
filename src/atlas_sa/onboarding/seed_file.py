"""The seed file: a declared state for CI and development, in TOML (``examples/seed.toml``, ``docs/ci.md``).

It names organizations with their settings, projects, service accounts with fixed client ids and secrets, their
project roles and access lists, and API keys with fixed public and private keys. Fields are Atlas's names for them
(``clientId``, ``maxServiceAccountSecretValidityInHours``, ``cidrBlock``). The file is read and checked whole before
anything is written: every broken rule is one line naming the entry as a path into the file
(``orgs[0].serviceAccounts[1].secrets[0].secret: must start with mdb_sa_sk_ …``).

Fixed values must have the forms Atlas clients expect, the forms this server makes: 24-hex ObjectIds, client ids
``mdb_sa_id_`` + 24 hex, secrets ``mdb_sa_sk_`` + 40 base64url characters, API public keys of 8 lowercase letters,
private keys lowercase UUIDs. TOML is read with the standard library's :mod:`tomllib`.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from atlas_sa.access_lists.service import EntryInput, network_text, parse_address, parse_entry, parse_network
from atlas_sa.identity.roles import ORG_ROLES, PROJECT_ROLES
from atlas_sa.kit.schemas import ATLAS_TEXT_PATTERN
from atlas_sa.models import DEFAULT_MAX_SECRET_VALIDITY_HOURS
from atlas_sa.org_settings.schemas import MAX_SECRET_VALIDITY_HOURS, MIN_SECRET_VALIDITY_HOURS
from atlas_sa.orgs.schemas import ORG_NAME_PATTERN
from atlas_sa.projects.schemas import PROJECT_NAME_PATTERN
from atlas_sa.service_accounts.service import MAX_SECRETS_PER_SERVICE_ACCOUNT, SECRET_PREFIX

DEFAULT_DESCRIPTION = "Created by an atlas-sa seed"
SECRET_BODY = 40  # token_urlsafe(30), as the service makes them
_SECRET_RE = re.compile(rf"^{SECRET_PREFIX}[A-Za-z0-9_-]{{{SECRET_BODY}}}$")
_OBJECT_ID_RE = re.compile(r"^[a-f0-9]{24}$")
_CLIENT_ID_RE = re.compile(r"^mdb_sa_id_[a-f0-9]{24}$")
_PUBLIC_KEY_RE = re.compile(r"^[a-z]{8}$")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MAX_ACCESS_LIST = 200


class SeedFileError(Exception):
    """The file cannot be used; ``lines`` says why, one line per problem, each naming its entry."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _matching(pattern: re.Pattern[str], rule: str) -> Any:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(rule)
        return value

    return AfterValidator(check)


def _check_secret(value: str) -> str:
    if not value.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX} (Atlas's form of a client secret)")
    if not _SECRET_RE.match(value):
        raise ValueError(
            f"must be {SECRET_PREFIX} and {SECRET_BODY} letters, digits, - or _ "
            f"(this has {len(value) - len(SECRET_PREFIX)} characters after the prefix)"
        )
    return value


def _one_of(allowed: tuple[str, ...]) -> Any:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return AfterValidator(check)


ObjectId = Annotated[str, _matching(_OBJECT_ID_RE, "must be 24 lowercase hexadecimal digits (an ObjectId)")]
ClientId = Annotated[str, _matching(_CLIENT_ID_RE, "must be mdb_sa_id_ and 24 lowercase hexadecimal digits")]
Secret = Annotated[str, AfterValidator(_check_secret)]
PublicKey = Annotated[str, _matching(_PUBLIC_KEY_RE, "must be 8 lowercase letters (Atlas's API public keys)")]
PrivateKey = Annotated[str, _matching(_UUID_RE, "must be a lowercase UUID (Atlas's API private keys)")]
OrgRole = Annotated[str, _one_of(ORG_ROLES)]
ProjectRole = Annotated[str, _one_of(PROJECT_ROLES)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=ATLAS_TEXT_PATTERN)]
Description = Annotated[str, Field(min_length=1, max_length=250, pattern=ATLAS_TEXT_PATTERN)]
ValidityHours = Annotated[int, Field(ge=MIN_SECRET_VALIDITY_HOURS, le=MAX_SECRET_VALIDITY_HOURS)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, strict=True)


class SeedSecret(_Entry):
    id: ObjectId | None = None
    secret: Secret
    # Hours from when the seed first makes the secret; or an absolute time. Neither: the organization's maximum.
    expires_after_hours: ValidityHours | None = None
    expires_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_expiry(self) -> SeedSecret:
        if self.expires_after_hours is not None and self.expires_at is not None:
            raise ValueError("give expiresAfterHours or expiresAt, not both")
        return self


def _address(value: str) -> str:
    try:
        parse_address(value)
    except ValueError:
        raise ValueError("must be an IP address") from None
    return value


def _network(value: str) -> str:
    try:
        parse_network(value)
    except ValueError:
        raise ValueError("must be a CIDR block, like 10.0.0.0/8") from None
    return value


class SeedAccessEntry(_Entry):
    ip_address: Annotated[str, AfterValidator(_address)] | None = None
    cidr_block: Annotated[str, AfterValidator(_network)] | None = None

    @model_validator(mode="after")
    def _one_address(self) -> SeedAccessEntry:
        if (self.ip_address is None) == (self.cidr_block is None):
            raise ValueError("give ipAddress or cidrBlock (one of them)")
        return self

    def as_input(self) -> EntryInput:
        return EntryInput(ip_address=self.ip_address, cidr_block=self.cidr_block)

    @property
    def key(self) -> str:
        """The network as stored (``10.1.2.3/8`` is ``10.0.0.0/8``), to compare with the database's."""
        return network_text(parse_entry(self.as_input(), 0).network)


class SeedAssignment(_Entry):
    group_id: ObjectId
    roles: Annotated[list[ProjectRole], Field(min_length=1)]


class SeedServiceAccount(_Entry):
    client_id: ClientId
    name: Name
    description: Description = DEFAULT_DESCRIPTION
    roles: Annotated[list[OrgRole], Field(min_length=1)]
    secrets: Annotated[list[SeedSecret], Field(max_length=MAX_SECRETS_PER_SERVICE_ACCOUNT)] = []
    access_list: Annotated[list[SeedAccessEntry], Field(max_length=_MAX_ACCESS_LIST)] = []
    projects: list[SeedAssignment] = []

    @property
    def object_id(self) -> str:
        return self.client_id.removeprefix("mdb_sa_id_")


class SeedApiKey(_Entry):
    public_key: PublicKey
    private_key: PrivateKey
    description: Description = DEFAULT_DESCRIPTION
    roles: Annotated[list[OrgRole], Field(min_length=1)]


class SeedOrgSettings(_Entry):
    api_access_list_required: bool | None = None
    max_service_account_secret_validity_in_hours: ValidityHours | None = None


class SeedProject(_Entry):
    id: ObjectId
    name: Annotated[str, Field(pattern=PROJECT_NAME_PATTERN)]


class SeedOrg(_Entry):
    id: ObjectId
    name: Annotated[str, Field(pattern=ORG_NAME_PATTERN)]
    settings: SeedOrgSettings | None = None
    projects: list[SeedProject] = []
    service_accounts: list[SeedServiceAccount] = []
    api_keys: list[SeedApiKey] = []

    @property
    def max_validity_hours(self) -> int | None:
        """The seed's maximum secret validity for the organization, when it sets one."""
        return None if self.settings is None else self.settings.max_service_account_secret_validity_in_hours


class Seed(_Entry):
    orgs: list[SeedOrg] = []

    def fixed_credentials(self) -> Iterator[str]:
        """The path of every fixed credential (secret, API key) the seed holds."""
        for i, org in enumerate(self.orgs):
            for j, account in enumerate(org.service_accounts):
                for k in range(len(account.secrets)):
                    yield f"orgs[{i}].serviceAccounts[{j}].secrets[{k}]"
            for j in range(len(org.api_keys)):
                yield f"orgs[{i}].apiKeys[{j}]"


def read_seed(path: Path) -> Seed:
    """The seed in ``path``, checked; :class:`SeedFileError` naming every bad entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SeedFileError([f"seed file {path}: not valid TOML: {exc}"]) from None
    except UnicodeDecodeError:
        raise SeedFileError([f"seed file {path}: not UTF-8 text"]) from None
    except OSError as exc:
        raise SeedFileError([f"seed file {path}: {exc.strerror}"]) from None
    return parse_seed(data, str(path))


def parse_seed(data: dict[str, Any], where: str = "seed") -> Seed:
    try:
        seed = Seed.model_validate(data)
    except ValidationError as exc:
        raise SeedFileError([f"{where}: {describe(error)}" for error in exc.errors()]) from None
    problems = list(_cross_checks(seed))
    if problems:
        raise SeedFileError([f"{where}: {problem}" for problem in problems])
    return seed


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_PATTERNS = {
    ORG_NAME_PATTERN: "must be 1 to 64 letters, digits, spaces or - _ . ( ) , : & @ + '",
    PROJECT_NAME_PATTERN: "must be 1 to 64 letters, digits, spaces or - _ . ( ) , : & @ + '",
    ATLAS_TEXT_PATTERN: "must hold only letters, digits, spaces or - _ . , '",
}
_RULES = {
    "missing": "required",
    "extra_forbidden": "is not a field of this entry",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "list_type": "must be a list (an array, or [[tables]])",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
    "datetime_type": "must be a TOML date-time with a time zone, like 2030-01-01T00:00:00Z",
    "timezone_aware": "must carry a time zone (Z or +hh:mm)",
    "greater_than_equal": "must be ≥ {ge}",
    "less_than_equal": "must be ≤ {le}",
    "string_too_short": "must not be empty",
    "string_too_long": "must be at most {max_length} characters",
    "too_short": "must hold at least {min_length} entry",
    "too_long": "must hold at most {max_length} entries",
    "value_error": "{error}",
}


def describe(error: ErrorDetails) -> str:
    """``path: rule``, in the seed's terms, without pydantic's wording."""
    ctx = error.get("ctx", {})
    if error["type"] == "string_pattern_mismatch":
        rule = _PATTERNS.get(ctx.get("pattern", ""), "has characters that are not allowed")
    else:
        template = _RULES.get(error["type"])
        rule = template.format(**ctx) if template else error["msg"]
    path = _path(error["loc"])
    return f"{path}: {rule}" if path else rule


def _duplicates(values: list[tuple[str, str]], what: str) -> Iterator[str]:
    """``values``: (path, value); a line for every value seen before, at its second place."""
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for path, value in values:
        counts[value] += 1
        if counts[value] == 1:
            first[value] = path
        else:
            yield f"{path}: the same {what} as {first[value]}"


def _cross_checks(seed: Seed) -> Iterator[str]:
    """Rules across entries: ids and keys unique in the file, assignments to the organization's own projects,
    validities within the organization's maximum."""
    orgs = [(f"orgs[{i}]", org) for i, org in enumerate(seed.orgs)]
    yield from _duplicates([(f"{p}.id", org.id) for p, org in orgs], "id")
    yield from _duplicates(
        [(f"{p}.projects[{j}].id", project.id) for p, org in orgs for j, project in enumerate(org.projects)], "id"
    )
    accounts = [(f"{p}.serviceAccounts[{j}]", org, a) for p, org in orgs for j, a in enumerate(org.service_accounts)]
    yield from _duplicates([(f"{p}.clientId", a.client_id) for p, _org, a in accounts], "clientId")
    yield from _duplicates(
        [(f"{p}.apiKeys[{j}].publicKey", key.public_key) for p, org in orgs for j, key in enumerate(org.api_keys)],
        "publicKey",
    )
    yield from _duplicates(
        [(f"{p}.secrets[{k}].id", s.id) for p, _org, a in accounts for k, s in enumerate(a.secrets) if s.id],
        "secret id",
    )
    for p, org in orgs:
        yield from _duplicates(
            [(f"{p}.projects[{j}].name", project.name) for j, project in enumerate(org.projects)], "project name"
        )
    for p, org, account in accounts:
        projects = {project.id for project in org.projects}
        for k, assignment in enumerate(account.projects):
            if assignment.group_id not in projects:
                yield f"{p}.projects[{k}].groupId: not one of this organization's projects in the seed"
        yield from _duplicates(
            [(f"{p}.projects[{k}].groupId", a.group_id) for k, a in enumerate(account.projects)], "groupId"
        )
        yield from _duplicates(
            [(f"{p}.accessList[{k}]", entry.key) for k, entry in enumerate(account.access_list)], "network"
        )
        yield from _duplicates(
            [(f"{p}.secrets[{k}].secret", s.secret) for k, s in enumerate(account.secrets)], "secret"
        )
        most = org.max_validity_hours or DEFAULT_MAX_SECRET_VALIDITY_HOURS
        for k, secret in enumerate(account.secrets):
            if secret.expires_after_hours is not None and secret.expires_after_hours > most:
                yield (
                    f"{p}.secrets[{k}].expiresAfterHours: must be ≤ {most} "
                    "(the organization's maxServiceAccountSecretValidityInHours)"
                )


def expiry_of(secret: SeedSecret, now: datetime, most_hours: int) -> datetime:
    """When a secret the seed makes now expires: as given, else ``most_hours`` (the organization's maximum) from now."""
    if secret.expires_at is not None:
        return secret.expires_at
    return now + timedelta(hours=secret.expires_after_hours or most_hours)
