"""The seed file: a declared state for CI and development, in TOML (``examples/seed.toml``, ``docs/ci.md``).

It names organizations with their settings, projects, service accounts with fixed client ids and secrets, their
project roles and access lists, and API keys with fixed public and private keys. Fields are Atlas's names for them
(``clientId``, ``maxServiceAccountSecretValidityInHours``, ``cidrBlock``). The file is read and checked whole before
anything is written: every broken rule is one line naming the entry as a path into the file
(``orgs[0].serviceAccounts[1].secrets[0].secret: must start with mdb_sa_sk_ …``). Everything the file alone
decides is checked here, so that a faulty file changes nothing and says so with exit code 2: forms, roles, ids and
names unique in the file, limits, and expiry times against the clock (``now``); only what depends on the database's
rows is left to :mod:`atlas_sa.onboarding.seed`.

Fixed values must have the forms Atlas clients expect, the forms this server makes (the rules are the features'
own: :func:`~atlas_sa.service_accounts.service.is_secret_value`, :func:`~atlas_sa.api_keys.service.is_public_key`,
:func:`~atlas_sa.api_keys.service.is_private_key`): 24-hex ObjectIds, client ids ``mdb_sa_id_`` + 24 hex, secrets
``mdb_sa_sk_`` + 40 base64url characters, API public keys of 8 lowercase letters, private keys lowercase UUIDs.

A secret or a private key may come from an environment variable instead (``secretEnv``, ``privateKeyEnv``: its
name), so that the file holds no credential; the variable must be set and not empty, and its value is checked as a
literal one would be, in messages that name the variable and never show its value. TOML is read with the standard
library's :mod:`tomllib`.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from atlas_sa.access_lists.service import (
    MAX_ENTRIES_PER_SERVICE_ACCOUNT,
    EntryInput,
    network_text,
    parse_address,
    parse_entry,
    parse_network,
)
from atlas_sa.api_keys.service import is_private_key, is_public_key
from atlas_sa.identity.roles import ORG_ROLES, PROJECT_ROLES
from atlas_sa.kit.ids import CLIENT_ID_PREFIX, OBJECT_ID_RE
from atlas_sa.kit.schemas import ATLAS_TEXT_PATTERN
from atlas_sa.models import DEFAULT_MAX_SECRET_VALIDITY_HOURS
from atlas_sa.org_settings.schemas import MAX_SECRET_VALIDITY_HOURS, MIN_SECRET_VALIDITY_HOURS
from atlas_sa.orgs.schemas import ORG_NAME_PATTERN
from atlas_sa.projects.schemas import PROJECT_NAME_PATTERN
from atlas_sa.service_accounts.service import (
    MAX_SECRETS_PER_SERVICE_ACCOUNT,
    MAX_SERVICE_ACCOUNTS_PER_ORG,
    SECRET_BODY_LENGTH,
    SECRET_PREFIX,
    is_secret_value,
)

DEFAULT_DESCRIPTION = "Created by an atlas-sa seed"
# Lowercase, as this server makes them (kit.ids): the API reads client ids in either case, a seed fixes one form.
_CLIENT_ID_RE = re.compile(rf"^{CLIENT_ID_PREFIX}{OBJECT_ID_RE.pattern.removeprefix('^')}")
# POSIX's portable names: what every shell can export.
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    if not is_secret_value(value):
        raise ValueError(
            f"must be {SECRET_PREFIX} and {SECRET_BODY_LENGTH} letters, digits, - or _ "
            f"(this has {len(value) - len(SECRET_PREFIX)} characters after the prefix)"
        )
    return value


def _check_public_key(value: str) -> str:
    if not is_public_key(value):
        raise ValueError("must be 8 lowercase letters (Atlas's API public keys)")
    return value


def _check_private_key(value: str) -> str:
    if not is_private_key(value):
        raise ValueError("must be a lowercase UUID (Atlas's API private keys)")
    return value


def _environ(info: ValidationInfo) -> Mapping[str, str]:
    context: dict[str, Any] = info.context or {}
    environ: Mapping[str, str] = context.get("environ", {})
    return environ


def _from_env(check: Callable[[str], str]) -> Any:
    """``secretEnv``, ``privateKeyEnv``: the name of a variable, set and not empty, whose value passes ``check``.
    The value is never put in a message: a line of CI output is no place for a credential."""

    def resolve(name: str, info: ValidationInfo) -> str:
        if not _ENV_NAME_RE.match(name):
            raise ValueError("must be an environment variable's name (letters, digits and _, not first a digit)")
        value = _environ(info).get(name)
        if value is None:
            raise ValueError(f"the environment variable {name} is not set")
        if not value:
            raise ValueError(f"the environment variable {name} is empty")
        try:
            check(value)
        except ValueError as exc:
            raise ValueError(f"the value of the environment variable {name} {exc}") from None
        return name

    return AfterValidator(resolve)


def _given(literal: str | None, env_name: str | None, info: ValidationInfo, field: str) -> str:
    """The credential from ``field`` or ``field + "Env"``: exactly one of them."""
    if (literal is None) == (env_name is None):
        raise ValueError(f"give {field} or {field}Env (one of them)")
    return literal if literal is not None else _environ(info)[env_name or ""]


def _one_of(allowed: tuple[str, ...]) -> Any:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return AfterValidator(check)


ObjectId = Annotated[str, _matching(OBJECT_ID_RE, "must be 24 lowercase hexadecimal digits (an ObjectId)")]
ClientId = Annotated[str, _matching(_CLIENT_ID_RE, "must be mdb_sa_id_ and 24 lowercase hexadecimal digits")]
Secret = Annotated[str, AfterValidator(_check_secret)]
SecretEnv = Annotated[str, _from_env(_check_secret)]
PublicKey = Annotated[str, AfterValidator(_check_public_key)]
PrivateKey = Annotated[str, AfterValidator(_check_private_key)]
PrivateKeyEnv = Annotated[str, _from_env(_check_private_key)]
OrgRole = Annotated[str, _one_of(ORG_ROLES)]
ProjectRole = Annotated[str, _one_of(PROJECT_ROLES)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=ATLAS_TEXT_PATTERN)]
Description = Annotated[str, Field(min_length=1, max_length=250, pattern=ATLAS_TEXT_PATTERN)]
ValidityHours = Annotated[int, Field(ge=MIN_SECRET_VALIDITY_HOURS, le=MAX_SECRET_VALIDITY_HOURS)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, strict=True)


class SeedSecret(_Entry):
    id: ObjectId | None = None
    secret: Secret | None = None
    secret_env: SecretEnv | None = None
    # Hours from when the seed first makes the secret; or an absolute time. Neither: the organization's maximum.
    expires_after_hours: ValidityHours | None = None
    expires_at: AwareDatetime | None = None
    _value: str = PrivateAttr(default="")

    @field_validator("expires_at")
    @classmethod
    def _not_too_soon(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        # Known from the file and the clock: a secret that expires within Atlas's minimum validity (or has expired)
        # is a fault of the file, whatever the database holds. The organization's maximum is checked across entries.
        now: datetime | None = (info.context or {}).get("now")
        if value is None or now is None or value - now >= timedelta(hours=MIN_SECRET_VALIDITY_HOURS):
            return value
        when = "is in the past" if value <= now else "is sooner"
        raise ValueError(f"must be at least {MIN_SECRET_VALIDITY_HOURS} hours from now (Atlas's minimum); this {when}")

    @model_validator(mode="after")
    def _one_each(self, info: ValidationInfo) -> Self:
        if self.expires_after_hours is not None and self.expires_at is not None:
            raise ValueError("give expiresAfterHours or expiresAt, not both")
        self._value = _given(self.secret, self.secret_env, info, "secret")
        return self

    @property
    def value(self) -> str:
        """The secret, from the file or from its variable."""
        return self._value


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
    access_list: Annotated[list[SeedAccessEntry], Field(max_length=MAX_ENTRIES_PER_SERVICE_ACCOUNT)] = []
    projects: list[SeedAssignment] = []

    @property
    def object_id(self) -> str:
        return self.client_id.removeprefix("mdb_sa_id_")


class SeedApiKey(_Entry):
    id: ObjectId | None = None
    public_key: PublicKey
    private_key: PrivateKey | None = None
    private_key_env: PrivateKeyEnv | None = None
    description: Description = DEFAULT_DESCRIPTION
    roles: Annotated[list[OrgRole], Field(min_length=1)]
    _private: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _one_private_key(self, info: ValidationInfo) -> Self:
        self._private = _given(self.private_key, self.private_key_env, info, "privateKey")
        return self

    @property
    def private_value(self) -> str:
        """The private key, from the file or from its variable."""
        return self._private


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
    service_accounts: Annotated[list[SeedServiceAccount], Field(max_length=MAX_SERVICE_ACCOUNTS_PER_ORG)] = []
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


def read_seed(path: Path, *, now: datetime, environ: Mapping[str, str]) -> Seed:
    """The seed in ``path``, checked at ``now`` with the variables ``environ`` (for ``secretEnv``,
    ``privateKeyEnv``); :class:`SeedFileError` naming every bad entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SeedFileError([f"seed file {path}: not valid TOML: {exc}"]) from None
    except UnicodeDecodeError:
        raise SeedFileError([f"seed file {path}: not UTF-8 text"]) from None
    except OSError as exc:
        raise SeedFileError([f"seed file {path}: {exc.strerror}"]) from None
    return parse_seed(data, str(path), now=now, environ=environ)


def parse_seed(data: dict[str, Any], where: str = "seed", *, now: datetime, environ: Mapping[str, str]) -> Seed:
    try:
        seed = Seed.model_validate(data, context={"now": now, "environ": environ})
    except ValidationError as exc:
        raise SeedFileError([f"{where}: {describe(error)}" for error in exc.errors()]) from None
    problems = list(_cross_checks(seed, now))
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


def _cross_checks(seed: Seed, now: datetime) -> Iterator[str]:
    """Rules across entries: ids, keys and secrets unique in the file, assignments to the organization's own
    projects, validities within the organization's maximum (the seed's, else the default a new organization has)."""
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
    keys = [(f"{p}.apiKeys[{j}]", key) for p, org in orgs for j, key in enumerate(org.api_keys)]
    yield from _duplicates([(f"{p}.id", key.id) for p, key in keys if key.id], "API key id")
    yield from _duplicates(
        [(f"{p}.privateKey{'Env' if key.private_key_env else ''}", key.private_value) for p, key in keys],
        "private key",
    )
    secrets = [(f"{p}.secrets[{k}]", s) for p, _org, a in accounts for k, s in enumerate(a.secrets)]
    yield from _duplicates([(f"{p}.id", s.id) for p, s in secrets if s.id], "secret id")
    # Across accounts too: one value for two accounts means whoever has one has both, which Atlas never makes.
    yield from _duplicates([(_secret_field(p, s), s.value) for p, s in secrets], "secret")
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
        most = org.max_validity_hours or DEFAULT_MAX_SECRET_VALIDITY_HOURS
        for k, secret in enumerate(account.secrets):
            if secret.expires_after_hours is not None and secret.expires_after_hours > most:
                yield (
                    f"{p}.secrets[{k}].expiresAfterHours: must be ≤ {most} "
                    "(the organization's maxServiceAccountSecretValidityInHours)"
                )
            if secret.expires_at is not None and secret.expires_at - now > timedelta(hours=most):
                yield (
                    f"{p}.secrets[{k}].expiresAt: must be at most {most} hours from now "
                    "(the organization's maxServiceAccountSecretValidityInHours)"
                )


def _secret_field(path: str, secret: SeedSecret) -> str:
    return f"{path}.secretEnv" if secret.secret_env is not None else f"{path}.secret"


def expiry_of(secret: SeedSecret, now: datetime, most_hours: int) -> datetime:
    """When a secret the seed makes now expires: as given, else ``most_hours`` (the organization's maximum) from now."""
    if secret.expires_at is not None:
        return secret.expires_at
    return now + timedelta(hours=secret.expires_after_hours or most_hours)
