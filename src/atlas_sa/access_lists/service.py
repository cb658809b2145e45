"""Access-list rules for the Atlas operations listOrgAccessList / createOrgAccessList / deleteOrgAccessEntry
(organization path) and listAccessList / createAccessList / deleteGroupAccessEntry (project path). Both paths edit
the account's one list.

Addresses are parsed with :mod:`ipaddress` and stored as networks: a single address is a ``/32`` (IPv4) or
``/128`` (IPv6) and is reported with both ``ipAddress`` and ``cidrBlock``. A CIDR block with host bits set is
reduced to its network (``10.1.2.3/8`` is ``10.0.0.0/8``). IPv6 is written as Java's ``Inet6Address`` writes it,
eight groups without leading zeros and without ``::`` (``2001:db8:0:0:0:0:0:1``): Atlas is a Java service, and that
form is the one the spec's ``ipAddress``/``cidrBlock`` patterns accept (the compressed form is not).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from atlas_sa.access_lists.repository import AccessListRepository
from atlas_sa.audit.catalogue import EventType
from atlas_sa.audit.recording import EventRecorder
from atlas_sa.errors import (
    AddressAlreadyInAccessList,
    CannotRemoveCallerFromAccessList,
    DuplicateAddressesInInput,
    FieldViolation,
    InvalidAttribute,
    InvalidIpAddressOrCidr,
    MaxAccessListEntriesExceeded,
    MissingAttribute,
    ResourceNotFound,
)
from atlas_sa.identity.principal import Principal
from atlas_sa.identity.roles import Requirement
from atlas_sa.kit.addresses import address_text
from atlas_sa.kit.clock import Clock
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import AccessListEntry, ServiceAccount
from atlas_sa.service_accounts.service import ServiceAccountService

MAX_ENTRIES_PER_SERVICE_ACCOUNT = 200

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class EntryInput:
    ip_address: str | None = None
    cidr_block: str | None = None


def network_text(network: Network) -> str:
    return f"{address_text(network.network_address)}/{network.prefixlen}"


def is_single_address(network: Network) -> bool:
    return network.prefixlen == network.max_prefixlen


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """One address, no prefix, no zone index (``fe80::1%eth0`` names an interface, not an address)."""
    if "/" in text or "%" in text:
        raise ValueError(text)
    return ipaddress.ip_address(text)


def parse_network(text: str) -> Network:
    """A CIDR block (``a/n``); host bits are cleared."""
    address, slash, prefix = text.partition("/")
    if not slash or not (prefix.isascii() and prefix.isdigit()) or "%" in text:
        raise ValueError(text)
    return ipaddress.ip_network(f"{parse_address(address)}/{int(prefix)}", strict=False)


def parse_path_value(raw: str) -> Network:
    """The ``{ipAddress}`` of a DELETE: an address or a CIDR block whose slash was sent as ``%2F``. The router
    has decoded it once; a value encoded twice (``%252F``) still holds ``%2F`` and is read the same way."""
    text = raw.replace("%2F", "/").replace("%2f", "/")
    if "/" in text:
        return parse_network(text)
    address = parse_address(text)
    return ipaddress.ip_network(address)


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    network: Network
    sent: str  # the text the client sent, for error parameters
    field: str  # where it was sent, for badRequestDetail: ``[index].ipAddress`` or ``[index].cidrBlock``

    @property
    def key(self) -> str:
        return network_text(self.network)


def parse_entry(entry: EntryInput, index: int) -> ParsedEntry:
    where = f"[{index}]"
    if entry.ip_address is not None and entry.cidr_block is not None:
        raise InvalidAttribute(
            "cidrBlock",
            fields=[FieldViolation(f"{where}.cidrBlock", "set either ipAddress or cidrBlock, not both")],
        )
    if entry.ip_address is None and entry.cidr_block is None:
        raise MissingAttribute(
            "cidrBlock",
            fields=[FieldViolation(f"{where}.cidrBlock", "one of ipAddress or cidrBlock is required")],
        )
    try:
        if entry.ip_address is not None:
            network = ipaddress.ip_network(parse_address(entry.ip_address))
            return ParsedEntry(network, entry.ip_address, f"{where}.ipAddress")
        assert entry.cidr_block is not None
        return ParsedEntry(parse_network(entry.cidr_block), entry.cidr_block, f"{where}.cidrBlock")
    except ValueError:
        sent = entry.ip_address if entry.ip_address is not None else entry.cidr_block
        field = "ipAddress" if entry.ip_address is not None else "cidrBlock"
        raise InvalidIpAddressOrCidr(
            sent, fields=[FieldViolation(f"{where}.{field}", "not a valid IP address or CIDR block")]
        ) from None


class AccessListService:
    def __init__(
        self, entries: AccessListRepository, accounts: ServiceAccountService, clock: Clock, events: EventRecorder
    ) -> None:
        self.entries = entries
        self.accounts = accounts
        self.clock = clock
        self.events = events

    async def _org_account(
        self, caller: Principal, org_id: str, client_id: str, requirement: Requirement, *, for_update: bool = False
    ) -> ServiceAccount:
        org = await self.accounts.org_scope(caller, org_id, requirement)
        return await self.accounts.account_in_org(org.id, client_id, for_update=for_update)

    async def _project_account(
        self, caller: Principal, group_id: str, client_id: str, requirement: Requirement, *, to_change: bool = False
    ) -> ServiceAccount:
        """The account through the project path; locked and held to the rule for changes to the account itself
        (:meth:`ServiceAccountService.account_to_change`) when ``to_change``: its access list is the account's,
        not the project's, whichever path edits it."""
        project = await self.accounts.project_scope(caller, group_id, requirement)
        if to_change:
            account, _assignment = await self.accounts.account_to_change(caller, project, client_id)
        else:
            account, _assignment = await self.accounts.account_in_project(project, client_id)
        return account

    async def _record(
        self, event_type: EventType, account: ServiceAccount, entry: AccessListEntry, group_id: str | None
    ) -> None:
        target = {"clientId": account.client_id, "cidrBlock": entry.cidr_block}
        if entry.ip_address is not None:
            target["ipAddress"] = entry.ip_address
        await self.events.record(event_type, org_id=account.org_id, group_id=group_id, target=target)

    # --- the rules, whatever the path --------------------------------------------------------------------------

    async def _add(
        self, account: ServiceAccount, entries: Sequence[EntryInput], page: PageRequest, group_id: str | None = None
    ) -> tuple[Sequence[AccessListEntry], int]:
        """Adds to the list (never replaces) and answers the list's page. ``account`` is locked by the caller,
        so the 200-entry limit holds under concurrent requests. One event per entry added."""
        parsed = [parse_entry(entry, i) for i, entry in enumerate(entries)]
        seen: dict[str, ParsedEntry] = {}
        for item in parsed:
            if item.key in seen:
                raise DuplicateAddressesInInput(
                    item.sent, fields=[FieldViolation(item.field, f"the same network as {seen[item.key].field}")]
                )
            seen[item.key] = item
        existing = {row.cidr_block for row in await self.entries.all_of(account.id)}
        for item in parsed:
            if item.key in existing:
                raise AddressAlreadyInAccessList(item.sent)
        if len(existing) + len(parsed) > MAX_ENTRIES_PER_SERVICE_ACCOUNT:
            raise MaxAccessListEntriesExceeded(account.client_id, MAX_ENTRIES_PER_SERVICE_ACCOUNT)
        now = self.clock.now()
        added = [
            AccessListEntry(
                service_account_id=account.id,
                cidr_block=item.key,
                ip_address=address_text(item.network.network_address) if is_single_address(item.network) else None,
                created_at=now,
                request_count=0,
            )
            for item in parsed
        ]
        await self.entries.add_all(added)
        for entry in added:
            await self._record(EventType.SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED, account, entry, group_id)
        return await self.entries.page(account.id, page)

    async def _delete(self, caller: Principal, account: ServiceAccount, raw: str, group_id: str | None = None) -> None:
        try:
            network = parse_path_value(raw)
        except ValueError:
            raise InvalidIpAddressOrCidr(raw) from None
        rows = await self.entries.all_of(account.id)
        target = next((row for row in rows if row.cidr_block == network_text(network)), None)
        if target is None:
            raise ResourceNotFound(raw)
        self._keep_caller_reachable(caller, account, target, rows)
        await self.entries.delete(target)
        await self._record(EventType.SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_DELETED, account, target, group_id)

    @staticmethod
    def _keep_caller_reachable(
        caller: Principal, account: ServiceAccount, target: AccessListEntry, rows: Sequence[AccessListEntry]
    ) -> None:
        """An account may not remove, from its own list, the entry its request comes through (Atlas: "You can't
        remove the requesting IP address"). Removing it is fine when another entry still admits that address."""
        if caller.account_id != account.id or not caller.client_ip:
            return
        try:
            ip = ipaddress.ip_address(caller.client_ip)
        except ValueError:
            return
        networks = {row.cidr_block: ipaddress.ip_network(row.cidr_block) for row in rows}

        def admits(cidr: str) -> bool:
            network = networks[cidr]
            return network.version == ip.version and ip in network

        if admits(target.cidr_block) and not any(admits(c) for c in networks if c != target.cidr_block):
            raise CannotRemoveCallerFromAccessList(caller.client_ip)

    # --- organization path -------------------------------------------------------------------------------------

    async def list_for_org(
        self, caller: Principal, org_id: str, client_id: str, page: PageRequest
    ) -> tuple[Sequence[AccessListEntry], int]:
        """listOrgAccessList (Organization Read Only)."""
        account = await self._org_account(caller, org_id, client_id, Requirement.ORG_READ_ONLY)
        return await self.entries.page(account.id, page)

    async def add_for_org(
        self, caller: Principal, org_id: str, client_id: str, entries: Sequence[EntryInput], page: PageRequest
    ) -> tuple[Sequence[AccessListEntry], int]:
        """createOrgAccessList (Organization Owner)."""
        account = await self._org_account(caller, org_id, client_id, Requirement.ORG_OWNER, for_update=True)
        return await self._add(account, entries, page)

    async def delete_for_org(self, caller: Principal, org_id: str, client_id: str, ip_address: str) -> None:
        """deleteOrgAccessEntry (Organization Owner)."""
        account = await self._org_account(caller, org_id, client_id, Requirement.ORG_OWNER, for_update=True)
        await self._delete(caller, account, ip_address)

    # --- project path ------------------------------------------------------------------------------------------

    async def list_for_project(
        self, caller: Principal, group_id: str, client_id: str, page: PageRequest
    ) -> tuple[Sequence[AccessListEntry], int]:
        """listAccessList (Project Read Only)."""
        account = await self._project_account(caller, group_id, client_id, Requirement.PROJECT_READ_ONLY)
        return await self.entries.page(account.id, page)

    async def add_for_project(
        self, caller: Principal, group_id: str, client_id: str, entries: Sequence[EntryInput], page: PageRequest
    ) -> tuple[Sequence[AccessListEntry], int]:
        """createAccessList (Project Access Manager)."""
        account = await self._project_account(
            caller, group_id, client_id, Requirement.PROJECT_ACCESS_MANAGER, to_change=True
        )
        return await self._add(account, entries, page, group_id)

    async def delete_for_project(self, caller: Principal, group_id: str, client_id: str, ip_address: str) -> None:
        """deleteGroupAccessEntry (Project Access Manager)."""
        account = await self._project_account(
            caller, group_id, client_id, Requirement.PROJECT_ACCESS_MANAGER, to_change=True
        )
        await self._delete(caller, account, ip_address, group_id)
