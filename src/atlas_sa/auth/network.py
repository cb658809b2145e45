"""Where a request comes from, and whether its credential may be used from there (IP access lists).

The client address is :func:`atlas_sa.kit.addresses.client_ip`.

Enforcement (docs ``configure-api-access`` and the decisions table): once a service account's access list has an
entry, its credentials work only from an address inside one of the entries (403 ``IP_ADDRESS_NOT_ON_ACCESS_LIST``);
with an empty list, the organization setting ``apiAccessListRequired`` decides (403 ``ORG_REQUIRES_ACCESS_LIST``
when it is on). A permitted request counts on the entry that matched (``requestCount``, ``lastUsedAt``,
``lastUsedAddress``). API keys have no list of their own, so for them the organization's setting alone decides.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from atlas_sa.auth.cache import AccessRules
from atlas_sa.changes import naming
from atlas_sa.errors import IpAddressNotOnAccessList, OrgRequiresAccessList
from atlas_sa.identity.principal import Principal
from atlas_sa.kit.addresses import IPNetwork, client_ip, parse_ip
from atlas_sa.kit.db import is_memory_sqlite
from atlas_sa.kit.groupcommit import GroupCommit, Pending
from atlas_sa.kit.routing import SAFE_METHODS
from atlas_sa.kit.state import AppState
from atlas_sa.models import AccessListEntry, Organization, ServiceAccount


def _network(cidr_block: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(cidr_block, strict=False)
    except ValueError:
        return None


def best_match(address: str, cidr_blocks: list[str]) -> str | None:
    """The most specific of ``cidr_blocks`` that contains ``address`` (so a /32 entry, not a /8 one, counts the
    request when both match), or ``None``."""
    parsed = parse_ip(address)
    if parsed is None:
        return None
    best: tuple[int, str] | None = None
    for block in cidr_blocks:
        network = _network(block)
        if network is None or network.version != parsed.version or parsed not in network:
            continue
        if best is None or network.prefixlen > best[0]:
            best = (network.prefixlen, block)
    return best[1] if best else None


async def enforce_network_access(
    request: Request, session: AsyncSession, principal: Principal, usage: UsageCounter
) -> None:
    """Allow the request only from an address the credential's access list (or its organization) permits; count
    it on the matching entry. The system (the CLI) is not restricted.

    API keys have no access list in atlas-sa (Atlas gives each key one, managed through the API-key resource, which
    atlas-sa does not serve): a key's list is always empty, so the organization's ``apiAccessListRequired`` alone
    decides, as it does for a service account with an empty list. With it on, every API key of the organization
    is refused."""
    if principal.kind == "system":
        return
    ip = principal.client_ip or client_ip(request)
    if principal.kind == "api_key":
        if await org_requires_access_list(session, principal.org_id or ""):
            raise OrgRequiresAccessList(ip)
        return
    account_id = principal.account_id
    if account_id is None:
        account_id = (
            await session.execute(select(ServiceAccount.id).where(ServiceAccount.client_id == principal.id))
        ).scalar_one_or_none()
        if account_id is None:
            raise IpAddressNotOnAccessList(ip)
    rules = await load_access_rules(session, account_id, principal.org_id or "")
    await enforce_access_rules(request, session, account_id, ip, rules, usage)


async def load_access_rules(session: AsyncSession, account_id: str, org_id: str) -> AccessRules:
    """The account's access list and, when it is empty, whether its organization requires one. Bearer
    authentication caches the result with the principal (:mod:`atlas_sa.auth.cache`): any change to the list or
    to the organization's setting drops that entry before the change is acknowledged."""
    blocks = tuple(
        (
            await session.execute(
                select(AccessListEntry.cidr_block).where(AccessListEntry.service_account_id == account_id)
            )
        ).scalars()
    )
    if blocks:
        return AccessRules(blocks, org_requires_list=False)
    return AccessRules((), org_requires_list=await org_requires_access_list(session, org_id))


async def org_requires_access_list(session: AsyncSession, org_id: str) -> bool:
    """The organization's ``apiAccessListRequired``: a credential with an empty access list is refused."""
    required = (
        await session.execute(select(Organization.api_access_list_required).where(Organization.id == org_id))
    ).scalar_one_or_none()
    return bool(required)


async def enforce_access_rules(
    request: Request, session: AsyncSession, account_id: str, ip: str, rules: AccessRules, usage: UsageCounter
) -> None:
    """:func:`enforce_network_access` for a service account whose rules are already known."""
    if not rules.blocks:
        if rules.org_requires_list:
            raise OrgRequiresAccessList(ip)
        return
    matched = best_match(ip, list(rules.blocks))
    if matched is None:
        raise IpAddressNotOnAccessList(ip)
    await _count_request(request, session, usage, account_id, matched, ip)


async def _count_request(
    request: Request, session: AsyncSession, usage: UsageCounter, account_id: str, cidr_block: str, ip: str
) -> None:
    state = usage.state
    statement = (
        update(AccessListEntry)
        .where(AccessListEntry.service_account_id == account_id, AccessListEntry.cidr_block == cidr_block)
        # An in-database increment: two concurrent requests both count, neither overwrites the other.
        .values(
            request_count=AccessListEntry.request_count + 1,
            last_used_at=state.clock.now(),
            last_used_address=ip,
        )
        # A counter is not something any cache holds: it names no key (see atlas_sa.changes).
        .execution_options(**naming())
    )
    if request.method in SAFE_METHODS and not is_memory_sqlite(state.db.url):
        # A read request's own transaction is a read snapshot: on SQLite, writing from it would fail with
        # SQLITE_BUSY when another writer committed since the snapshot began. The count goes in a write
        # transaction of its own instead, shared with the counts of concurrent reads (group commit), which also
        # keeps it when the read request itself later fails.
        await usage.count(account_id, cidr_block, ip, state.clock.now())
        return
    # A write request already holds the write lock (SQLite ``BEGIN IMMEDIATE``): a second writer would wait on
    # it. The count joins the request's unit of work, and commits with it.
    await session.execute(statement)


@dataclass(slots=True)
class _Use:
    account_id: str
    cidr_block: str
    ip: str
    when: datetime


class UsageCounter:
    """Access-list counters of read requests, written by group commit (:mod:`atlas_sa.kit.groupcommit`): the counts
    of every read that arrived while the previous batch was committing go in one transaction, one increment per
    entry. Each request waits for its batch's commit, so a count is in the database before the request is
    answered, as with a transaction of its own (Atlas allows these figures to lag by minutes; here they do not lag
    at all). One per app, built once by :func:`atlas_sa.auth.core.build_auth_core`."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self._writes: GroupCommit[_Use, None] = GroupCommit(self._commit, _fail, name="atlas-sa-usage-counter")

    async def count(self, account_id: str, cidr_block: str, ip: str, when: datetime) -> None:
        await self._writes.submit(_Use(account_id, cidr_block, ip, when))

    async def close(self) -> None:
        await self._writes.close()

    async def _commit(self, pending: list[Pending[_Use, None]]) -> None:
        batch = [p.item for p in pending]
        totals: dict[tuple[str, str], tuple[int, _Use]] = {}
        for use in batch:
            key = (use.account_id, use.cidr_block)
            seen, latest = totals.get(key, (0, use))
            totals[key] = (seen + 1, use if use.when >= latest.when else latest)
        async with self.state.db.unit_of_work(write=True) as session:
            for (account_id, cidr_block), (n, latest) in sorted(totals.items()):
                await session.execute(
                    update(AccessListEntry)
                    .where(AccessListEntry.service_account_id == account_id, AccessListEntry.cidr_block == cidr_block)
                    .values(
                        request_count=AccessListEntry.request_count + n,
                        last_used_at=latest.when,
                        last_used_address=latest.ip,
                    )
                    .execution_options(**naming())
                )
        for one in pending:
            if not one.done.done():
                one.done.set_result(None)


def _fail(use: Pending[_Use, None], exc: Exception) -> None:
    # Handed to every request of the batch: each answers as its own failed write would.
    use.done.set_exception(exc)
