"""Client addresses and service-account IP access lists, through a tiny app whose route authenticates a service
account by its client id (standing in for a bearer token) and calls ``enforce_network_access``.

The route runs in the project's real unit of work (``atlas_router``), on both backends, so the counters are
checked as they were committed. ``httpx.ASGITransport(client=...)`` chooses the socket peer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from atlas_sa.auth.network import UsageCounter, best_match, enforce_network_access
from atlas_sa.errors import GroupNotFound, OrgRequiresAccessList
from atlas_sa.identity.principal import Principal
from atlas_sa.kit.addresses import client_ip, parse_ip
from atlas_sa.kit.clock import FrozenClock, isoformat
from atlas_sa.kit.crypto import ServerKeys
from atlas_sa.kit.db import Database
from atlas_sa.kit.handlers import install_error_handlers
from atlas_sa.kit.ids import new_client_id, new_object_id
from atlas_sa.kit.negotiation import FormatMiddleware
from atlas_sa.kit.rendering import ok
from atlas_sa.kit.routing import atlas_router, request_session
from atlas_sa.kit.state import AppState
from atlas_sa.models import AccessListEntry, Organization, ServiceAccount
from atlas_sa.settings import Settings
from tests.auth.digest.helpers import seed_org

ACCEPT = {"Accept": "application/vnd.atlas.2023-01-01+json"}
Session = Annotated[AsyncSession, Depends(request_session)]


def network_app(settings: Settings, clock: FrozenClock, db: Database) -> FastAPI:
    app = FastAPI()
    app.state.atlas = AppState(settings=settings, db=db, clock=clock, keys=ServerKeys.from_settings(settings))
    usage = UsageCounter(app.state.atlas)
    install_error_handlers(app)
    app.add_middleware(FormatMiddleware)
    router = atlas_router("2023-01-01")

    async def check(request: Request, session: AsyncSession, client_id: str) -> Response:
        account = (
            await session.execute(select(ServiceAccount).where(ServiceAccount.client_id == client_id))
        ).scalar_one()
        ip = client_ip(request)
        principal = Principal(
            kind="service_account", id=client_id, org_id=account.org_id, client_ip=ip, account_id=account.id
        )
        await enforce_network_access(request, session, principal, usage)
        return ok({"clientIp": ip})

    @router.get("/net/{client_id}")
    async def read(request: Request, session: Session, client_id: str) -> Response:
        return await check(request, session, client_id)

    @router.post("/net/{client_id}")
    async def write(request: Request, session: Session, client_id: str) -> Response:
        return await check(request, session, client_id)

    @router.get("/net/{client_id}/missing")
    async def read_then_fail(request: Request, session: Session, client_id: str) -> Response:
        await check(request, session, client_id)
        raise GroupNotFound("5" * 24)

    @router.get("/ip")
    async def ip_only(request: Request) -> Response:
        return ok({"clientIp": client_ip(request)})

    app.include_router(router)
    app.state.atlas.routes.extend(router.routes)
    return app


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def connect(settings: Settings, clock: FrozenClock, db: Database) -> AsyncIterator[ClientFactory]:
    """``connect(peer, trusted_proxies=[...])``: a client whose requests come from socket address ``peer``."""
    clients: list[httpx.AsyncClient] = []

    def make(peer: str, trusted_proxies: list[str] | None = None) -> httpx.AsyncClient:
        configured = settings.model_copy(update={"trusted_proxies": trusted_proxies or []})
        transport = httpx.ASGITransport(app=network_app(configured, clock, db), client=(peer, 4321))
        client = httpx.AsyncClient(transport=transport, base_url="http://atlas.test", headers=ACCEPT)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def org_id(db: Database, clock: FrozenClock) -> str:
    return await seed_org(db, clock)


async def seed_account(db: Database, clock: FrozenClock, org_id: str, *blocks: str) -> str:
    async with db.unit_of_work() as session:
        account_id = new_object_id()
        account = ServiceAccount(
            id=account_id,
            client_id=new_client_id(account_id),
            org_id=org_id,
            name="robot",
            description="",
            org_roles=["ORG_MEMBER"],
            system_managed=False,
            created_at=clock.now(),
        )
        session.add(account)
        await session.flush()
        for block in blocks:
            single = block.endswith(("/32", "/128"))
            session.add(
                AccessListEntry(
                    service_account_id=account_id,
                    cidr_block=block,
                    ip_address=block.split("/")[0] if single else None,
                    created_at=clock.now(),
                    request_count=0,
                )
            )
    return account.client_id


async def entries(db: Database, client_id: str) -> dict[str, tuple[int, datetime | None, str | None]]:
    async with db.unit_of_work(write=False) as session:
        rows = (
            await session.execute(
                select(AccessListEntry)
                .join(ServiceAccount, ServiceAccount.id == AccessListEntry.service_account_id)
                .where(ServiceAccount.client_id == client_id)
            )
        ).scalars()
        return {row.cidr_block: (row.request_count, row.last_used_at, row.last_used_address) for row in rows}


async def require_access_list(db: Database, org_id: str) -> None:
    async with db.unit_of_work() as session:
        org = await session.get(Organization, org_id)
        assert org is not None
        org.api_access_list_required = True


def assert_forbidden(response: httpx.Response, code: str, ip: str) -> None:
    assert response.status_code == 403, response.text
    body: dict[str, Any] = response.json()
    assert body["errorCode"] == code
    assert body["parameters"] == [ip]
    assert body["error"] == 403
    assert body["reason"] == "Forbidden"


# --- the client address -----------------------------------------------------------------------------------------


async def test_forwarded_for_ignored_from_untrusted_peer(connect: ClientFactory) -> None:
    client = connect("198.51.100.7", trusted_proxies=["10.0.0.0/8"])
    response = await client.get("/ip", headers={"X-Forwarded-For": "192.0.2.1"})
    assert response.json() == {"clientIp": "198.51.100.7"}


async def test_forwarded_for_ignored_without_trusted_proxies(connect: ClientFactory) -> None:
    response = await connect("10.0.0.1").get("/ip", headers={"X-Forwarded-For": "192.0.2.1"})
    assert response.json() == {"clientIp": "10.0.0.1"}


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        (["192.0.2.1"], "192.0.2.1"),
        # A client may write anything left of what the proxies append: the rightmost untrusted hop is the client.
        (["6.6.6.6, 192.0.2.1"], "192.0.2.1"),
        (["192.0.2.1, 10.0.0.9"], "192.0.2.1"),
        (["6.6.6.6", "192.0.2.1, 10.0.0.9"], "192.0.2.1"),
        (["  2001:db8::1 "], "2001:db8:0:0:0:0:0:1"),
        (["[2001:db8::1]"], "2001:db8:0:0:0:0:0:1"),
        (["::ffff:192.0.2.1"], "192.0.2.1"),
        # A malformed hop: what is left of it is unverifiable; the last trusted hop is the client.
        (["192.0.2.1, garbage, 10.0.0.9"], "10.0.0.9"),
        (["unknown"], "10.0.0.1"),
        ([""], "10.0.0.1"),
        ([], "10.0.0.1"),
        # Only proxies: the leftmost of them.
        (["10.0.0.3, 10.0.0.2"], "10.0.0.3"),
    ],
)
async def test_forwarded_for_from_trusted_proxy(connect: ClientFactory, forwarded: list[str], expected: str) -> None:
    client = connect("10.0.0.1", trusted_proxies=["10.0.0.0/8", "not-a-network"])
    headers = [("X-Forwarded-For", value) for value in forwarded]
    response = await client.get("/ip", headers=headers)
    assert response.json() == {"clientIp": expected}


async def test_trusted_proxy_given_as_single_ipv6_address(connect: ClientFactory) -> None:
    client = connect("2001:db8::10", trusted_proxies=["2001:db8::10"])
    response = await client.get("/ip", headers={"X-Forwarded-For": "203.0.113.50"})
    assert response.json() == {"clientIp": "203.0.113.50"}


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:DB8:0:0::7", "2001:db8:0:0:0:0:0:7"),
        ("2001:db8:0:0:0:0:0:7", "2001:db8:0:0:0:0:0:7"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("fe80::1%eth0", "fe80:0:0:0:0:0:0:1"),
        ("testclient", "testclient"),
    ],
)
async def test_peer_address_is_canonical(connect: ClientFactory, peer: str, expected: str) -> None:
    assert (await connect(peer).get("/ip")).json() == {"clientIp": expected}


def test_best_match_prefers_the_most_specific_entry() -> None:
    blocks = ["198.51.100.0/24", "198.51.100.7/32", "0.0.0.0/0", "2001:db8::/32"]
    assert best_match("198.51.100.7", blocks) == "198.51.100.7/32"
    assert best_match("198.51.100.8", blocks) == "198.51.100.0/24"
    assert best_match("192.0.2.1", blocks) == "0.0.0.0/0"
    assert best_match("2001:db8::1", blocks) == "2001:db8::/32"
    assert best_match("2001:db9::1", blocks) is None
    assert best_match("not-an-ip", blocks) is None
    assert parse_ip("::ffff:10.1.2.3") == parse_ip("10.1.2.3")


# --- enforcement ------------------------------------------------------------------------------------------------


async def test_empty_list_allows_any_address(
    connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str
) -> None:
    client_id = await seed_account(db, clock, org_id)
    for peer in ("198.51.100.7", "2001:db8::1"):
        response = await connect(peer).get(f"/net/{client_id}")
        assert response.status_code == 200, response.text


async def test_empty_list_denied_when_org_requires_one(
    connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str
) -> None:
    client_id = await seed_account(db, clock, org_id)
    await require_access_list(db, org_id)
    assert_forbidden(await connect("198.51.100.7").get(f"/net/{client_id}"), "ORG_REQUIRES_ACCESS_LIST", "198.51.100.7")
    assert_forbidden(
        await connect("2001:db8::1").post(f"/net/{client_id}"), "ORG_REQUIRES_ACCESS_LIST", "2001:db8:0:0:0:0:0:1"
    )


async def test_required_list_with_entries_admits_listed_addresses(
    connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str
) -> None:
    client_id = await seed_account(db, clock, org_id, "198.51.100.7/32")
    await require_access_list(db, org_id)
    assert (await connect("198.51.100.7").get(f"/net/{client_id}")).status_code == 200
    assert_forbidden(
        await connect("198.51.100.8").get(f"/net/{client_id}"), "IP_ADDRESS_NOT_ON_ACCESS_LIST", "198.51.100.8"
    )


async def test_ipv4_entry_counts_requests(
    connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str
) -> None:
    client_id = await seed_account(db, clock, org_id, "198.51.100.7/32", "192.0.2.0/24")
    allowed = connect("198.51.100.7")
    assert (await allowed.get(f"/net/{client_id}")).status_code == 200
    first_use = clock.now()
    clock.advance(minutes=3)
    assert (await allowed.post(f"/net/{client_id}")).status_code == 200
    assert await entries(db, client_id) == {
        "198.51.100.7/32": (2, clock.now(), "198.51.100.7"),
        "192.0.2.0/24": (0, None, None),
    }
    assert isoformat(first_use) != isoformat(clock.now())


async def test_ipv4_cidr_entry(connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str) -> None:
    client_id = await seed_account(db, clock, org_id, "192.0.2.0/24")
    assert (await connect("192.0.2.200").get(f"/net/{client_id}")).status_code == 200
    assert (await connect("192.0.2.1").get(f"/net/{client_id}")).status_code == 200
    assert_forbidden(await connect("192.0.3.1").get(f"/net/{client_id}"), "IP_ADDRESS_NOT_ON_ACCESS_LIST", "192.0.3.1")
    assert await entries(db, client_id) == {"192.0.2.0/24": (2, clock.now(), "192.0.2.1")}


async def test_ipv6_entries(connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str) -> None:
    client_id = await seed_account(db, clock, org_id, "2001:db8:1:0:0:0:0:0/48", "2001:db8:2:0:0:0:0:7/128")
    assert (await connect("2001:db8:1:ffff::1").get(f"/net/{client_id}")).status_code == 200
    assert (await connect("2001:DB8:2:0::7").get(f"/net/{client_id}")).status_code == 200
    assert_forbidden(
        await connect("2001:db8:2::8").get(f"/net/{client_id}"), "IP_ADDRESS_NOT_ON_ACCESS_LIST", "2001:db8:2:0:0:0:0:8"
    )
    # An IPv6-only list admits no IPv4 caller.
    assert_forbidden(
        await connect("198.51.100.7").get(f"/net/{client_id}"), "IP_ADDRESS_NOT_ON_ACCESS_LIST", "198.51.100.7"
    )
    assert await entries(db, client_id) == {
        "2001:db8:1:0:0:0:0:0/48": (1, clock.now(), "2001:db8:1:ffff:0:0:0:1"),
        "2001:db8:2:0:0:0:0:7/128": (1, clock.now(), "2001:db8:2:0:0:0:0:7"),
    }


async def test_ipv4_mapped_peer_matches_ipv4_entry(
    connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str
) -> None:
    client_id = await seed_account(db, clock, org_id, "198.51.100.7/32")
    assert (await connect("::ffff:198.51.100.7").get(f"/net/{client_id}")).status_code == 200


async def test_most_specific_entry_counts(
    connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str
) -> None:
    client_id = await seed_account(db, clock, org_id, "198.51.100.0/24", "198.51.100.7/32")
    assert (await connect("198.51.100.7").get(f"/net/{client_id}")).status_code == 200
    counts = {block: values[0] for block, values in (await entries(db, client_id)).items()}
    assert counts == {"198.51.100.0/24": 0, "198.51.100.7/32": 1}


async def test_denied_request_changes_nothing(
    connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str
) -> None:
    client_id = await seed_account(db, clock, org_id, "198.51.100.7/32")
    assert_forbidden(
        await connect("198.51.100.8").post(f"/net/{client_id}"), "IP_ADDRESS_NOT_ON_ACCESS_LIST", "198.51.100.8"
    )
    assert await entries(db, client_id) == {"198.51.100.7/32": (0, None, None)}


async def test_read_that_fails_later_still_counts(
    connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str
) -> None:
    # A read request's count is written in its own transaction, so it stands even though the request's own unit
    # of work rolls back on the 404.
    client_id = await seed_account(db, clock, org_id, "198.51.100.7/32")
    response = await connect("198.51.100.7").get(f"/net/{client_id}/missing")
    assert response.status_code == 404
    assert await entries(db, client_id) == {"198.51.100.7/32": (1, clock.now(), "198.51.100.7")}


async def test_forwarded_for_spoofing_from_untrusted_peer(
    connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str
) -> None:
    client_id = await seed_account(db, clock, org_id, "192.0.2.1/32")
    spoofer = connect("198.51.100.66", trusted_proxies=["10.0.0.0/8"])
    response = await spoofer.get(f"/net/{client_id}", headers={"X-Forwarded-For": "192.0.2.1"})
    assert_forbidden(response, "IP_ADDRESS_NOT_ON_ACCESS_LIST", "198.51.100.66")


async def test_forwarded_for_honoured_from_trusted_proxy(
    connect: ClientFactory, db: Database, clock: FrozenClock, org_id: str
) -> None:
    client_id = await seed_account(db, clock, org_id, "192.0.2.1/32")
    proxy = connect("10.0.0.1", trusted_proxies=["10.0.0.0/8"])
    response = await proxy.get(f"/net/{client_id}", headers={"X-Forwarded-For": "192.0.2.1"})
    assert response.status_code == 200, response.text
    assert await entries(db, client_id) == {"192.0.2.1/32": (1, clock.now(), "192.0.2.1")}
    # Without the header the proxy itself is the caller, and it is not listed.
    assert_forbidden(await proxy.get(f"/net/{client_id}"), "IP_ADDRESS_NOT_ON_ACCESS_LIST", "10.0.0.1")


async def test_api_keys_answer_to_the_organizations_requirement(
    settings: Settings, db: Database, clock: FrozenClock, org_id: str
) -> None:
    """An API key has no access list here, so the organization's setting alone decides; the system is exempt."""
    request = Request({"type": "http", "method": "GET", "headers": [], "client": ("192.0.2.1", 1)})
    usage = UsageCounter(AppState(settings=settings, db=db, clock=clock, keys=ServerKeys.from_settings(settings)))
    key = Principal(kind="api_key", id="abcdefgh", org_id=org_id, client_ip="192.0.2.1")
    async with db.unit_of_work() as session:
        await enforce_network_access(request, session, key, usage)
    await require_access_list(db, org_id)
    async with db.unit_of_work() as session:
        with pytest.raises(OrgRequiresAccessList) as refused:
            await enforce_network_access(request, session, key, usage)
        assert refused.value.parameters == ["192.0.2.1"]
        await enforce_network_access(request, session, Principal(kind="system", id="system"), usage)
