"""Applying a seed (:mod:`atlas_sa.onboarding.seed_file`) and emptying a database: ``atlas-sa seed apply``,
``atlas-sa reset [--seed FILE]`` and ``atlas-sa serve --seed FILE``.

A seed is applied in the caller's one unit of work, through the features' services, so it follows their rules
(the organization's limits, access-list parsing, project names unique in an organization) and records their events.
The actor is the command line (``username: atlas-sa-cli``, as bootstrap's): a seed is the local operator's act on
the local database, and Atlas's event fields know no other kind of actor. Secrets are stored hashed, API private
keys sealed, as any others.

Applying it again changes nothing. Entry by entry, against what the database holds:

- absent (by its fixed id, client id or public key): created;
- present with the same content: left alone, no write and no event; a part of it the seed names and the database
  lacks (a secret, an access-list entry, a project role) is added;
- present with other content (another name, roles, settings or private key; the id in another organization):
  refused, naming the entry and what differs, and nothing at all is written. Overwriting would silently undo what
  a test or an operator changed through the API; ``atlas-sa reset --seed FILE`` starts over instead.

Rows the seed does not name are left alone: a seed adds, ``reset`` empties.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.access_lists.repository import AccessListRepository
from atlas_sa.access_lists.service import AccessListService
from atlas_sa.api_keys.repository import ApiKeyRepository
from atlas_sa.api_keys.service import API_KEY_CONTEXT, create_api_key
from atlas_sa.audit.recording import CLI, EventRecorder
from atlas_sa.changes import EVERYTHING, stage
from atlas_sa.errors import AtlasError
from atlas_sa.identity.principal import SYSTEM
from atlas_sa.kit.clock import Clock
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import Base, Organization, ServiceAccount
from atlas_sa.onboarding.seed_file import Seed, SeedApiKey, SeedOrg, SeedServiceAccount, expiry_of
from atlas_sa.org_settings.schemas import MIN_SECRET_VALIDITY_HOURS, OrganizationSettingsUpdate
from atlas_sa.org_settings.service import OrgSettingsService
from atlas_sa.orgs.repository import OrgRepository
from atlas_sa.orgs.service import OrgService
from atlas_sa.projects.repository import ProjectRepository
from atlas_sa.projects.service import ProjectService
from atlas_sa.service_accounts.repository import ServiceAccountRepository
from atlas_sa.service_accounts.service import NewAccount, ServiceAccountService

# What ``reset`` keeps: the master key's check value (the database stays the key's, whose file stays beside it) and
# the token-signing keys (clients' cached JWKS stay good; every token is gone anyway with ``access_tokens``).
# ``alembic_version`` is not a model: the schema stays. The change log too: a server running on the SQLite file reads
# the reset's own entry there and drops its caches.
KEPT_TABLES = frozenset({"master_key_check", "signing_keys", "change_log"})


class SeedConflict(Exception):
    """The database holds an entry of the seed with other content, or refuses one; ``path`` names it in the file."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@contextmanager
def _entry(path: str) -> Iterator[None]:
    """A service's refusal (a limit, a name taken) or a row that clashes, reported as the entry's."""
    try:
        yield
    except AtlasError as exc:
        raise SeedConflict(path, exc.detail) from None
    except IntegrityError:
        raise SeedConflict(path, "clashes with a row the database holds (an id or name in use)") from None


def _differs(path: str, what: str, database: object, seed: object) -> SeedConflict:
    return SeedConflict(
        path,
        f"the database holds this entry with {what} {database!r}, the seed says {seed!r}",
    )


class _Applier:
    def __init__(self, session: AsyncSession, keys: ServerKeys, clock: Clock) -> None:
        self.session = session
        self.keys = keys
        self.clock = clock
        self.events = EventRecorder(session, clock, CLI)
        self.orgs = OrgService(OrgRepository(session), clock, self.events)
        self.projects = ProjectService(ProjectRepository(session), self.orgs, clock, self.events)
        self.accounts = ServiceAccountService(
            ServiceAccountRepository(session), self.orgs, self.projects, clock, keys, self.events
        )
        self.access = AccessListService(AccessListRepository(session), self.accounts, clock, self.events)
        self.settings = OrgSettingsService(self.orgs, self.events)
        self.made: Counter[str] = Counter()

    async def org(self, path: str, seeded: SeedOrg) -> None:
        with _entry(path):
            row = await self.orgs.orgs.get(seeded.id)
            if row is None:
                row = await self.orgs.create(SYSTEM, seeded.name, org_id=seeded.id)
                self.made["organizations"] += 1
                if seeded.settings is not None:
                    update = seeded.settings.model_dump(by_alias=True, exclude_none=True)
                    await self.settings.update(SYSTEM, row.id, OrganizationSettingsUpdate.model_validate(update))
            elif row.name != seeded.name:
                raise _differs(f"{path}.name", "the name", row.name, seeded.name)
            else:
                self._same_settings(f"{path}.settings", row, seeded)
        for j, project in enumerate(seeded.projects):
            where = f"{path}.projects[{j}]"
            with _entry(where):
                found = await self.projects.projects.get(project.id)
                if found is None:
                    await self.projects.create(SYSTEM, project.name, row.id, group_id=project.id)
                    self.made["projects"] += 1
                elif found.org_id != row.id:
                    raise _differs(f"{where}.id", "the organization", found.org_id, row.id)
                elif found.name != project.name:
                    raise _differs(f"{where}.name", "the name", found.name, project.name)
        for j, account in enumerate(seeded.service_accounts):
            await self.account(f"{path}.serviceAccounts[{j}]", row, account)
        for j, key in enumerate(seeded.api_keys):
            await self.api_key(f"{path}.apiKeys[{j}]", row, key)

    @staticmethod
    def _same_settings(path: str, row: Organization, seeded: SeedOrg) -> None:
        if seeded.settings is None:
            return
        required = seeded.settings.api_access_list_required
        if required is not None and required != row.api_access_list_required:
            raise _differs(f"{path}.apiAccessListRequired", "the value", row.api_access_list_required, required)
        hours = seeded.settings.max_service_account_secret_validity_in_hours
        if hours is not None and hours != row.max_secret_validity_hours:
            raise _differs(
                f"{path}.maxServiceAccountSecretValidityInHours", "the value", row.max_secret_validity_hours, hours
            )

    async def account(self, path: str, org: Organization, seeded: SeedServiceAccount) -> None:
        repository = self.accounts.accounts
        with _entry(path):
            row = await repository.by_client_id(seeded.client_id)
            if row is None:
                request = NewAccount(
                    name=seeded.name,
                    description=seeded.description,
                    roles=seeded.roles,
                    secret_expires_after_hours=None,
                    without_initial_secret=True,
                    object_id=seeded.object_id,
                )
                made = (await self.accounts.create_first(org, request)).account
                assert isinstance(made, ServiceAccount), "a single-account operation holds the entity"
                row = made
                self.made["serviceAccounts"] += 1
            elif row.org_id != org.id:
                raise _differs(f"{path}.clientId", "the organization", row.org_id, org.id)
            else:
                for field, before, after in (
                    ("name", row.name, seeded.name),
                    ("description", row.description, seeded.description),
                    ("roles", sorted(row.org_roles), sorted(set(seeded.roles))),
                ):
                    if before != after:
                        raise _differs(f"{path}.{field}", f"the {field}", before, after)
        assert row is not None
        await self._secrets(path, org, row, seeded)
        await self._assignments(path, row, seeded)
        await self._access_list(path, org, row, seeded)

    async def _secrets(self, path: str, org: Organization, row: ServiceAccount, seeded: SeedServiceAccount) -> None:
        repository = self.accounts.accounts
        stored = (await repository.secrets_of([row.id])).get(row.id, [])
        by_hash = {secret.secret_hash: secret for secret in stored}
        for k, secret in enumerate(seeded.secrets):
            where = f"{path}.secrets[{k}]"
            found = by_hash.get(self.keys.hash_secret(secret.value))
            if found is not None:
                if secret.id is not None and secret.id != found.id:
                    raise _differs(f"{where}.id", "the secret's id", found.id, secret.id)
                continue
            if secret.id is not None and any(other.id == secret.id for other in stored):
                raise SeedConflict(f"{where}.id", "the database holds another secret with this id")
            now = self.clock.now()
            expires = expiry_of(secret, now, org.max_secret_validity_hours)
            if (
                not timedelta(hours=MIN_SECRET_VALIDITY_HOURS)
                <= expires - now
                <= timedelta(hours=org.max_secret_validity_hours)
            ):
                field = "expiresAt" if secret.expires_at is not None else "expiresAfterHours"
                raise SeedConflict(
                    f"{where}.{field}",
                    f"must be {MIN_SECRET_VALIDITY_HOURS} to {org.max_secret_validity_hours} hours from now "
                    "(the organization's maxServiceAccountSecretValidityInHours)",
                )
            with _entry(where):
                await self.accounts.add_given_secret(row, secret.value, expires, secret_id=secret.id)
            self.made["secrets"] += 1

    async def _assignments(self, path: str, row: ServiceAccount, seeded: SeedServiceAccount) -> None:
        repository = self.accounts.accounts
        for k, assignment in enumerate(seeded.projects):
            where = f"{path}.projects[{k}]"
            with _entry(where):
                present = await repository.assignment(row.id, assignment.group_id)
                if present is None:
                    await self.accounts.invite(SYSTEM, assignment.group_id, seeded.client_id, assignment.roles)
                    self.made["projectAssignments"] += 1
                elif sorted(present.roles) != sorted(set(assignment.roles)):
                    raise _differs(f"{where}.roles", "the roles", sorted(present.roles), sorted(assignment.roles))

    async def _access_list(self, path: str, org: Organization, row: ServiceAccount, seeded: SeedServiceAccount) -> None:
        present_networks = {entry.cidr_block for entry in await AccessListRepository(self.session).all_of(row.id)}
        missing = [entry.as_input() for entry in seeded.access_list if entry.key not in present_networks]
        if missing:
            with _entry(f"{path}.accessList"):
                await self.access.add_for_org(SYSTEM, org.id, seeded.client_id, missing, PageRequest(items_per_page=1))
            self.made["accessListEntries"] += len(missing)

    async def api_key(self, path: str, org: Organization, seeded: SeedApiKey) -> None:
        with _entry(path):
            row = await ApiKeyRepository(self.session).get_by_public_key(seeded.public_key)
            if row is None:
                await create_api_key(
                    self.session,
                    self.keys,
                    self.clock,
                    org.id,
                    seeded.roles,
                    seeded.description,
                    self.events,
                    fixed=(seeded.public_key, seeded.private_value),
                    key_id=seeded.id,
                )
                self.made["apiKeys"] += 1
                return
        if row.org_id != org.id:
            raise _differs(f"{path}.publicKey", "the organization", row.org_id, org.id)
        private = self.keys.decrypt(row.private_key_encrypted, context=API_KEY_CONTEXT).decode()
        if seeded.id is not None and row.id != seeded.id:
            raise _differs(f"{path}.id", "the id", row.id, seeded.id)
        if not hmac.compare_digest(private, seeded.private_value):
            # Neither key is shown: both are secrets.
            field = "privateKeyEnv" if seeded.private_key_env is not None else "privateKey"
            raise SeedConflict(f"{path}.{field}", "the database holds this public key with another private key")
        if row.description != seeded.description:
            raise _differs(f"{path}.description", "the description", row.description, seeded.description)
        if sorted(row.roles) != sorted(set(seeded.roles)):
            raise _differs(f"{path}.roles", "the roles", sorted(row.roles), sorted(set(seeded.roles)))


async def apply_seed(session: AsyncSession, keys: ServerKeys, clock: Clock, seed: Seed) -> Counter[str]:
    """Apply ``seed`` in the caller's unit of work; how many of each kind were created (``organizations``,
    ``projects``, ``serviceAccounts``, ``secrets``, ``projectAssignments``, ``accessListEntries``, ``apiKeys``; empty:
    nothing changed). Raises
    :class:`SeedConflict` for an entry the database holds otherwise: the caller's unit of work then rolls back."""
    applier = _Applier(session, keys, clock)
    for i, org in enumerate(seed.orgs):
        await applier.org(f"orgs[{i}]", org)
    return applier.made


async def reset(session: AsyncSession) -> None:
    """Empty every table but :data:`KEPT_TABLES`, in the caller's unit of work. Every running server drops its caches
    once the commit reaches it (:mod:`atlas_sa.changes`: a notification on PostgreSQL, the change log on SQLite)."""
    for table in reversed(Base.metadata.sorted_tables):
        if table.name not in KEPT_TABLES:
            await session.execute(delete(table))
    stage(session, [EVERYTHING])
