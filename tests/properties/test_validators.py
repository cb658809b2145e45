"""Hypothesis properties of the validators, against oracles written from the reference: names and descriptions
(Atlas's pattern and lengths), roles, IP addresses and CIDR blocks (IPv6 written as Atlas writes it), paging."""

from __future__ import annotations

import ipaddress
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from atlas_sa.access_lists.service import network_text, parse_address, parse_network, parse_path_value
from atlas_sa.identity.roles import ORG_ROLES, PROJECT_ROLES
from atlas_sa.kit.addresses import address_text, parse_ip
from atlas_sa.kit.pagination import MAX_OFFSET, PageRequest
from atlas_sa.service_accounts.schemas import GroupServiceAccountRequest, OrgServiceAccountRequest

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PUNCTUATION = set("-_.,' ")

# Characters Python's Unicode tables know (unassigned and surrogate code points excluded: pydantic's regex engine
# may be on a newer Unicode version, where some are letters).
assigned = st.characters(exclude_categories=("Cn", "Cs"))
atlas_text = st.text(alphabet=st.sampled_from("abcXYZ019-_.,' éßж中٣"), min_size=0, max_size=300)
any_text = st.one_of(atlas_text, st.text(alphabet=assigned, max_size=300))


def is_atlas_text(value: str, max_length: int) -> bool:
    """The reference's rule: 1..max characters, each a Unicode letter or digit or one of ``-_.,'`` and space."""
    return 1 <= len(value) <= max_length and all(
        ch in PUNCTUATION or unicodedata.category(ch)[0] in ("L", "N") for ch in value
    )


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "bot",
        "description": "Deploys",
        "roles": ["ORG_READ_ONLY"],
        "secretExpiresAfterHours": 24,
        **overrides,
    }


def errors_of(model: Any, data: dict[str, Any]) -> list[Any] | None:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return list(exc.errors())
    return None


@PROPERTY
@given(any_text)
@example("")
@example("a" * 64)
@example("a" * 65)
@example("O'Brien, Jr. - build_bot")
@example("bot\n")
@example("bot\u200b")
def test_names(name: str) -> None:
    errors = errors_of(OrgServiceAccountRequest, body(name=name))
    assert (errors is None) == is_atlas_text(name, 64), (name, errors)
    if errors is not None:
        assert errors[0]["loc"] == ("name",)


@PROPERTY
@given(any_text)
@example("d" * 250)
@example("d" * 251)
def test_descriptions(description: str) -> None:
    errors = errors_of(GroupServiceAccountRequest, body(description=description, roles=["GROUP_READ_ONLY"]))
    assert (errors is None) == is_atlas_text(description, 250), (description, errors)


role_names = st.one_of(
    st.sampled_from(ORG_ROLES), st.sampled_from(PROJECT_ROLES), st.text(max_size=30), st.just("org_owner")
)


@PROPERTY
@given(st.lists(role_names, max_size=6))
def test_org_roles(roles: list[str]) -> None:
    errors = errors_of(OrgServiceAccountRequest, body(roles=roles))
    valid = bool(roles) and all(role in ORG_ROLES for role in roles)
    assert (errors is None) == valid, (roles, errors)
    if errors is not None and roles:
        # An unknown role is reported as an enum violation (400 INVALID_ENUM_VALUE), naming the value.
        unknown = [role for role in roles if role not in ORG_ROLES]
        assert errors[0]["type"] == "enum"
        assert errors[0]["input"] == unknown[0]


@PROPERTY
@given(st.lists(role_names, max_size=6))
def test_project_roles(roles: list[str]) -> None:
    errors = errors_of(GroupServiceAccountRequest, body(roles=roles))
    assert (errors is None) == (bool(roles) and all(role in PROJECT_ROLES for role in roles)), (roles, errors)


@PROPERTY
@given(st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=5) | st.booleans())
def test_expiry_hours_must_be_a_strict_integer(hours: object) -> None:
    errors = errors_of(OrgServiceAccountRequest, body(secretExpiresAfterHours=hours))
    is_int = isinstance(hours, int) and not isinstance(hours, bool)
    # The schema takes any JSON integer; the bounds (8 .. the org's maximum) are the service's (tested over HTTP).
    assert (errors is None) == is_int, (hours, errors)


# --- addresses ---------------------------------------------------------------------------------------------------


def java_style(address: ipaddress.IPv6Address) -> str:
    """Atlas (Java's Inet6Address) writes eight groups, lowercase hex, no leading zeros, no ``::``."""
    return ":".join(f"{int(group, 16):x}" for group in address.exploded.split(":"))


v6 = st.ip_addresses(v=6)
v4 = st.ip_addresses(v=4)


@PROPERTY
@given(v6)
def test_ipv6_written_as_atlas_writes_it(address: ipaddress.IPv6Address) -> None:
    text = address_text(address)
    assert text == java_style(address)
    assert len(text.split(":")) == 8
    assert "::" not in text
    # Every spelling of the address reads back as the same address and is written the same way.
    for spelling in (str(address), address.exploded, address.exploded.upper(), text):
        assert parse_address(spelling) == address
        assert address_text(parse_address(spelling)) == text


@PROPERTY
@given(v4)
def test_ipv4_round_trip(address: ipaddress.IPv4Address) -> None:
    assert address_text(parse_address(str(address))) == str(address)
    # What a dual-stack socket reports for an IPv4 peer is that IPv4 address.
    assert parse_ip(f"::ffff:{address}") == address
    assert parse_ip(f"[::ffff:{address}]") == address


@PROPERTY
@given(st.one_of(v4, v6), st.integers(min_value=0, max_value=128))
def test_cidr_blocks(address: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int) -> None:
    text = f"{address}/{prefix}"
    if prefix > address.max_prefixlen:
        with pytest.raises(ValueError, match=r"/"):
            parse_network(text)
        return
    network = parse_network(text)
    assert network == ipaddress.ip_network(text, strict=False), "host bits are cleared"
    assert network.prefixlen == prefix
    assert address in network
    written = network_text(network)
    assert parse_network(written) == network
    assert written.split("/")[0] == address_text(network.network_address)
    # A DELETE path names the block with its slash encoded once or twice.
    assert parse_path_value(written.replace("/", "%2F")) == network
    assert parse_path_value(written.replace("/", "%2f")) == network


@PROPERTY
@given(st.text(max_size=60))
@example("10.0.0.1/")
@example("10.0.0.1/33")
@example("fe80::1%eth0")
@example("10.0.0.1/+8")
@example("10.0.0.1/٣")
@example("[::1]")
def test_anything_else_is_a_value_error(text: str) -> None:
    for parse in (parse_address, parse_network, parse_path_value):
        try:
            parsed = parse(text)
        except ValueError:
            continue
        assert isinstance(
            parsed, ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network
        )
    assert parse_ip(text) is None or isinstance(parse_ip(text), ipaddress.IPv4Address | ipaddress.IPv6Address)


# --- paging ------------------------------------------------------------------------------------------------------


@PROPERTY
@given(st.integers(min_value=1, max_value=2**80), st.integers(min_value=1, max_value=500))
def test_offsets_are_clamped(page_num: int, items_per_page: int) -> None:
    page = PageRequest(page_num, items_per_page)
    assert 0 <= page.offset <= MAX_OFFSET
    assert page.offset == min((page_num - 1) * items_per_page, MAX_OFFSET)
    assert page.limit == items_per_page
