"""The access-list rules that need no HTTP: address parsing and the caller's-own-address rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from atlas_sa.access_lists.service import (
    AccessListService,
    network_text,
    parse_network,
    parse_path_value,
)
from atlas_sa.errors import CannotRemoveCallerFromAccessList
from atlas_sa.identity.principal import SYSTEM, Principal
from atlas_sa.kit.addresses import address_text
from atlas_sa.models import AccessListEntry, ServiceAccount

WHEN = datetime(2026, 1, 15, tzinfo=UTC)


def account(account_id: str = "a" * 24) -> ServiceAccount:
    return ServiceAccount(id=account_id, client_id="mdb_sa_id_" + account_id, org_id="o" * 24)


def entry(cidr: str) -> AccessListEntry:
    return AccessListEntry(service_account_id="a" * 24, cidr_block=cidr, created_at=WHEN, request_count=0)


def caller(ip: str, account_id: str = "a" * 24) -> Principal:
    return Principal(kind="service_account", id="x", org_id="o" * 24, client_ip=ip, account_id=account_id)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("192.0.2.0%2F24", "192.0.2.0/24"),
        ("192.0.2.0/24", "192.0.2.0/24"),
        ("192.0.2.9", "192.0.2.9/32"),
        ("2001:db8::%2f32", "2001:db8:0:0:0:0:0:0/32"),
        ("::", "0:0:0:0:0:0:0:0/128"),
    ],
)
def test_path_values(raw: str, expected: str) -> None:
    assert network_text(parse_path_value(raw)) == expected


@pytest.mark.parametrize("raw", ["", "/", "1.2.3.4/x", "1.2.3.4/-1", "1.2.3.4%2F", "fe80::1%25eth0", "1.2.3.4/32/1"])
def test_bad_path_values(raw: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - ipaddress raises plain ValueErrors
        parse_path_value(raw)


def test_ipv6_is_written_in_full_without_compression() -> None:
    assert network_text(parse_network("2001:DB8:0:0:1::/80")) == "2001:db8:0:0:1:0:0:0/80"
    assert address_text(parse_network("::1/128").network_address) == "0:0:0:0:0:0:0:1"


def test_caller_cannot_remove_the_last_entry_admitting_it() -> None:
    rows = [entry("203.0.113.0/24"), entry("198.51.100.0/24")]
    with pytest.raises(CannotRemoveCallerFromAccessList) as raised:
        AccessListService._keep_caller_reachable(caller("203.0.113.7"), account(), rows[0], rows)
    assert raised.value.parameters == ["203.0.113.7"]
    # An entry that does not admit the caller may go.
    AccessListService._keep_caller_reachable(caller("203.0.113.7"), account(), rows[1], rows)


def test_another_entry_admitting_the_caller_allows_removal() -> None:
    rows = [entry("203.0.113.7/32"), entry("203.0.113.0/24")]
    AccessListService._keep_caller_reachable(caller("203.0.113.7"), account(), rows[0], rows)


def test_the_rule_is_about_the_callers_own_list() -> None:
    rows = [entry("203.0.113.0/24")]
    AccessListService._keep_caller_reachable(caller("203.0.113.7", "b" * 24), account(), rows[0], rows)
    AccessListService._keep_caller_reachable(SYSTEM, account(), rows[0], rows)


def test_ipv6_caller_and_ipv4_entries_do_not_mix() -> None:
    rows = [entry("0.0.0.0/0"), entry("2001:db8:0:0:0:0:0:0/32")]
    AccessListService._keep_caller_reachable(caller("2001:db8::1"), account(), rows[0], rows)
    with pytest.raises(CannotRemoveCallerFromAccessList):
        AccessListService._keep_caller_reachable(caller("2001:db8::1"), account(), rows[1], rows)
