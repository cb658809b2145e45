"""Crash safety: concurrent writes against a real server process, SIGKILL mid-load, restart, and every write the
server acknowledged is there, with nothing half-done, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
from dataclasses import dataclass, field

import httpx
import pytest

from tests.support.server import bootstrap as run_bootstrap
from tests.support.server import free_port, live_server

pytestmark = pytest.mark.slow

MASTER_KEY = "crash-test-master-key-0123456789"
ENV = {"ATLAS_SA_SECRET_KEY": MASTER_KEY, "ATLAS_SA_RATE_LIMITS_ENABLED": "false"}
ACCEPT = {"Accept": "application/vnd.atlas.2025-03-12+json"}
WORKERS = 12
MAX_CREATES = 150
KILL_AFTER = 150


@dataclass
class Ledger:
    """What the server acknowledged (2xx), and what was in flight when it died (outcome unknown)."""

    created: dict[str, str] = field(default_factory=dict)  # clientId -> name
    secrets: dict[str, set[str]] = field(default_factory=dict)  # clientId -> acknowledged secret ids
    deleted_secrets: set[str] = field(default_factory=set)
    in_flight_secret_deletes: set[str] = field(default_factory=set)
    entries: dict[str, set[str]] = field(default_factory=dict)  # clientId -> acknowledged CIDR blocks
    descriptions: dict[str, list[str]] = field(default_factory=dict)  # clientId -> acknowledged, in order
    in_flight_descriptions: dict[str, set[str]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    in_flight_deletes: set[str] = field(default_factory=set)
    acknowledged: int = 0
    enough: asyncio.Event = field(default_factory=asyncio.Event)


def bootstrap(url: str) -> dict[str, str]:
    return run_bootstrap(url, ENV)


class Worker:
    """One client issuing a random mix of writes, recording what the server acknowledged."""

    def __init__(self, client: httpx.AsyncClient, org: str, ledger: Ledger, seed: int) -> None:
        self.client, self.ledger, self.seed = client, ledger, seed
        self.rng = random.Random(seed)
        self.accounts = f"/api/atlas/v2/orgs/{org}/serviceAccounts"
        self.counter = 0

    def ack(self) -> None:
        self.ledger.acknowledged += 1
        if self.ledger.acknowledged >= KILL_AFTER:
            self.ledger.enough.set()

    async def create(self) -> None:
        name = f"w{self.seed} n{self.counter}"
        body = {"name": name, "description": "initial", "roles": ["ORG_READ_ONLY"], "secretExpiresAfterHours": 24}
        response = await self.client.post(self.accounts, json=body)
        if response.status_code == 201:
            created = response.json()
            self.ledger.created[created["clientId"]] = name
            self.ledger.secrets[created["clientId"]] = {created["secrets"][0]["id"]}
            self.ledger.descriptions[created["clientId"]] = ["initial"]
            self.ack()

    async def describe(self, target: str) -> None:
        description = f"d{self.seed} {self.counter}"
        self.ledger.in_flight_descriptions.setdefault(target, set()).add(description)
        response = await self.client.patch(f"{self.accounts}/{target}", json={"description": description})
        if response.status_code == 200:
            self.ledger.descriptions[target].append(description)
            self.ack()

    async def add_secret(self, target: str) -> None:
        response = await self.client.post(f"{self.accounts}/{target}/secrets", json={"secretExpiresAfterHours": 48})
        if response.status_code == 201:
            self.ledger.secrets[target].add(response.json()["id"])
            self.ack()

    async def delete_secret(self, target: str) -> None:
        if not self.ledger.secrets.get(target):
            return
        secret_id = sorted(self.ledger.secrets[target])[0]
        self.ledger.in_flight_secret_deletes.add(secret_id)
        response = await self.client.delete(f"{self.accounts}/{target}/secrets/{secret_id}")
        if response.status_code == 204:
            self.ledger.secrets[target].discard(secret_id)
            self.ledger.deleted_secrets.add(secret_id)
            self.ack()

    async def add_entry(self, target: str) -> None:
        cidr = f"10.{self.seed}.{self.counter % 250}.0/24"
        response = await self.client.post(f"{self.accounts}/{target}/accessList", json=[{"cidrBlock": cidr}])
        if response.status_code == 200:
            self.ledger.entries.setdefault(target, set()).add(cidr)
            self.ack()

    async def delete(self, target: str) -> None:
        self.ledger.in_flight_deletes.add(target)
        response = await self.client.delete(f"{self.accounts}/{target}")
        if response.status_code == 204:
            self.ledger.deleted.add(target)
            self.ack()

    async def run(self, stop: asyncio.Event) -> None:
        ledger = self.ledger
        while not stop.is_set():
            self.counter += 1
            live = [c for c in ledger.created if c not in ledger.deleted and c not in ledger.in_flight_deletes]
            choice = self.rng.random()
            try:
                if not live or (choice < 0.35 and len(ledger.created) < MAX_CREATES):
                    await self.create()
                    continue
                target = self.rng.choice(live)
                if choice < 0.55:
                    await self.describe(target)
                elif choice < 0.7:
                    await self.add_secret(target)
                elif choice < 0.8:
                    await self.delete_secret(target)
                elif choice < 0.92:
                    await self.add_entry(target)
                else:
                    await self.delete(target)
            except httpx.TransportError:
                return  # the server died: what was in flight stays unknown


async def load_then_kill(base: str, org: str, bearer: str, process: subprocess.Popen[bytes], ledger: Ledger) -> None:
    stop = asyncio.Event()
    headers = {**ACCEPT, "Authorization": f"Bearer {bearer}"}
    limits = httpx.Limits(max_connections=WORKERS)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30, limits=limits) as client:
        workers = [Worker(client, org, ledger, seed) for seed in range(WORKERS)]
        tasks = [asyncio.create_task(w.run(stop)) for w in workers]
        try:
            await asyncio.wait_for(ledger.enough.wait(), 30)
        finally:
            process.send_signal(signal.SIGKILL)  # mid-load: requests are in flight right now
            process.wait(timeout=10)
            stop.set()
            await asyncio.gather(*tasks)


def verify(base: str, org: str, bearer: str, ledger: Ledger) -> int:
    headers = {**ACCEPT, "Authorization": f"Bearer {bearer}"}
    checked = 0
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for client_id, name in ledger.created.items():
            response = client.get(f"/api/atlas/v2/orgs/{org}/serviceAccounts/{client_id}")
            if client_id in ledger.deleted:
                assert response.status_code == 404, f"acknowledged delete of {client_id} was lost"
                checked += 1
                continue
            if client_id in ledger.in_flight_deletes and response.status_code == 404:
                continue
            assert response.status_code == 200, f"acknowledged create of {client_id} was lost"
            account = response.json()
            assert account["name"] == name
            possible = {ledger.descriptions[client_id][-1], *ledger.in_flight_descriptions.get(client_id, set())}
            assert account["description"] in possible, "an acknowledged update was lost or a torn one is visible"
            secret_ids = {s["id"] for s in account["secrets"]}
            expected = ledger.secrets[client_id] - ledger.in_flight_secret_deletes
            assert expected <= secret_ids, "an acknowledged secret was lost"
            assert not secret_ids & ledger.deleted_secrets, "an acknowledged secret delete was lost"
            assert len(secret_ids) <= 2
            listed = client.get(f"/api/atlas/v2/orgs/{org}/serviceAccounts/{client_id}/accessList?itemsPerPage=500")
            assert listed.status_code == 200
            blocks = {entry["cidrBlock"] for entry in listed.json()["results"]}
            assert ledger.entries.get(client_id, set()) <= blocks, "an acknowledged access-list entry was lost"
            checked += 1 + len(ledger.secrets[client_id]) + len(ledger.entries.get(client_id, set()))
    return checked


def test_acknowledged_writes_survive_sigkill(own_database: str) -> None:
    credentials = bootstrap(own_database)
    port = free_port()
    ledger = Ledger()
    with live_server(own_database, env=ENV, port=port) as server:
        bearer = server.token(credentials["clientId"], credentials["clientSecret"])
        asyncio.run(load_then_kill(server.base_url, credentials["orgId"], bearer, server.process, ledger))
    assert ledger.acknowledged >= 50, f"too little load before the kill ({ledger.acknowledged} acknowledged writes)"
    with live_server(own_database, env=ENV, port=free_port()) as server:
        bearer = server.token(credentials["clientId"], credentials["clientSecret"])
        checked = verify(server.base_url, credentials["orgId"], bearer, ledger)
    print(f"crash safety: {ledger.acknowledged} acknowledged writes, {checked} facts verified after SIGKILL")
    assert checked >= ledger.acknowledged // 2
