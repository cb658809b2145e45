"""Two ``atlas-sa serve`` instances on one PostgreSQL, with nothing else between them: what one creates the other
serves at once, what one changes the other shows within one second although it had cached the answer, and what one
revokes, deletes or takes away the other refuses within one second, although it had cached the token (and its
roles) before the change."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.reliability.test_crash_safety import ACCEPT, ENV, bootstrap
from tests.support.server import LiveServer, live_server

V2 = "/api/atlas/v2"
# Instances behind one load balancer share one issuer (tokens name it) and one secret key.
INSTANCE_ENV = {**ENV, "ATLAS_SA_ISSUER": "http://atlas-sa.test", "ATLAS_SA_ACCESS_LOG": "false"}
DEADLINE = 1.0


def call(server: LiveServer, method: str, path: str, bearer: str, **kwargs: Any) -> httpx.Response:
    headers = {**ACCEPT, "Authorization": f"Bearer {bearer}"}
    return httpx.request(method, f"{server.base_url}{V2}{path}", headers=headers, timeout=10, **kwargs)


def principal_lookups(server: LiveServer) -> tuple[float, float]:
    """The server's principal-cache (hits, misses) so far, from its ``/metrics``."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    found = {}
    for line in text.splitlines():
        for kind in ("hits", "misses"):
            if line.startswith(f'atlas_sa_cache_{kind}_total{{cache="principal"}}'):
                found[kind] = float(line.rsplit(" ", 1)[1])
    return found["hits"], found["misses"]


def within(deadline: float, attempt: Callable[[], httpx.Response], done: Callable[[httpx.Response], bool]) -> float:
    """Seconds until ``attempt``'s response is ``done``; every answer before that must be a 200, and it fails once
    ``deadline`` has passed."""
    start = time.monotonic()
    while True:
        response = attempt()
        elapsed = time.monotonic() - start
        if done(response):
            return elapsed
        assert response.status_code == 200, response.text
        assert elapsed < deadline, f"still {response.status_code} {response.text} after {elapsed:.2f} s"
        time.sleep(0.01)


def refused_within(deadline: float, attempt: Callable[[], httpx.Response], status: int = 401) -> float:
    """Seconds until ``attempt`` answers ``status``."""
    return within(deadline, attempt, lambda response: response.status_code == status)


@pytest.mark.slow
def test_changes_on_one_instance_apply_on_the_other_within_a_second(shared_postgres: str) -> None:
    owner = bootstrap(shared_postgres)
    org = owner["orgId"]
    with live_server(shared_postgres, env=INSTANCE_ENV) as a, live_server(shared_postgres, env=INSTANCE_ENV) as b:
        boss = a.token(owner["clientId"], owner["clientSecret"])
        project = call(a, "POST", "/groups", boss, json={"name": "shared", "orgId": org})
        assert project.status_code == 200, project.text
        group = project.json()["id"]

        # Created on A, usable on B at once: a token from B, a call on B.
        made = call(
            a,
            "POST",
            f"/orgs/{org}/serviceAccounts",
            boss,
            json={
                "name": "robot",
                "description": "two instances",
                "roles": ["ORG_MEMBER"],
                "secretExpiresAfterHours": 24,
            },
        )
        assert made.status_code == 201, made.text
        client_id, first_secret = made.json()["clientId"], made.json()["secrets"][0]["secret"]
        invited = call(
            a, "POST", f"/groups/{group}/serviceAccounts/{client_id}:invite", boss, json={"roles": ["GROUP_READ_ONLY"]}
        )
        assert invited.status_code == 200, invited.text
        robot = b.token(client_id, first_secret)
        assert call(b, "GET", f"/groups/{group}", robot).status_code == 200
        assert call(a, "GET", f"/groups/{group}", robot).status_code == 200

        # An account read twice on B (the second answer from B's cache of rendered reads), renamed on A: B shows
        # the new name within a second.
        account_path = f"/orgs/{org}/serviceAccounts/{client_id}"
        for _ in range(2):
            assert call(b, "GET", account_path, boss).json()["name"] == "robot"
        renamed = call(a, "PATCH", account_path, boss, json={"name": "renamed"})
        assert renamed.status_code == 200, renamed.text
        within(
            DEADLINE,
            lambda: call(b, "GET", account_path, boss),
            lambda response: response.status_code == 200 and response.json()["name"] == "renamed",
        )

        # A token revoked on A: refused on B, which had it cached.
        doomed = a.token(client_id, first_secret)
        assert call(b, "GET", f"/groups/{group}", doomed).status_code == 200
        revoked = httpx.post(
            f"{a.base_url}/api/oauth/revoke", data={"token": doomed}, auth=(client_id, first_secret), timeout=10
        )
        assert revoked.status_code == 200
        refused_within(DEADLINE, lambda: call(b, "GET", f"/groups/{group}", doomed))

        # A secret deleted on A: its tokens, cached on B, are refused there, and B mints no more with it.
        second = call(
            a, "POST", f"/orgs/{org}/serviceAccounts/{client_id}/secrets", boss, json={"secretExpiresAfterHours": 24}
        )
        assert second.status_code == 201, second.text
        second_id, second_secret = second.json()["id"], second.json()["secret"]
        by_second = b.token(client_id, second_secret)
        assert call(b, "GET", f"/groups/{group}", by_second).status_code == 200
        deleted = call(a, "DELETE", f"/orgs/{org}/serviceAccounts/{client_id}/secrets/{second_id}", boss)
        assert deleted.status_code == 204, deleted.text
        refused_within(DEADLINE, lambda: call(b, "GET", f"/groups/{group}", by_second))
        refused_within(DEADLINE, lambda: b.mint(client_id, second_secret))

        # A role removed on A: B stops honouring it for the cached token.
        assert call(b, "GET", f"/groups/{group}", robot).status_code == 200
        removed = call(a, "DELETE", f"/groups/{group}/serviceAccounts/{client_id}", boss)
        assert removed.status_code == 204, removed.text
        refused_within(DEADLINE, lambda: call(b, "GET", f"/groups/{group}", robot))
        assert call(b, "GET", f"/orgs/{org}", robot).status_code == 200  # still an org member

        # An access-list entry added on A: B refuses the cached token from elsewhere; deleted on A, B serves it.
        entry = call(
            a,
            "POST",
            f"/orgs/{org}/serviceAccounts/{client_id}/accessList",
            boss,
            json=[{"cidrBlock": "198.51.100.0/24"}],
        )
        assert entry.status_code == 200, entry.text
        refused_within(DEADLINE, lambda: call(b, "GET", f"/orgs/{org}", robot), status=403)
        gone = call(a, "DELETE", f"/orgs/{org}/serviceAccounts/{client_id}/accessList/198.51.100.0%2F24", boss)
        assert gone.status_code == 204, gone.text
        within(DEADLINE, lambda: call(b, "GET", f"/orgs/{org}", robot), lambda response: response.status_code == 200)

        # The account deleted on A: its token, cached on B, is refused there. Only its own: the owner's token,
        # cached on B too, is still B's from memory (a hit, no miss) once the deletion has arrived.
        assert call(b, "GET", f"/orgs/{org}", boss).status_code == 200
        deleted = call(a, "DELETE", f"/orgs/{org}/serviceAccounts/{client_id}", boss)
        assert deleted.status_code == 204, deleted.text
        refused_within(DEADLINE, lambda: call(b, "GET", f"/orgs/{org}", robot))
        refused_within(DEADLINE, lambda: b.mint(client_id, first_secret))
        hits, misses = principal_lookups(b)
        assert call(b, "GET", f"/orgs/{org}", boss).status_code == 200
        assert principal_lookups(b) == (hits + 1, misses)
