"""Two ``atlas-sa serve`` processes on one PostgreSQL, each running the events watch every 50 ms: a secret entering
the expiry warning window, and leaving it when deleted, is reported once, not once per instance."""

from __future__ import annotations

import time

import pytest

from tests.reliability.test_instances import INSTANCE_ENV, call, within
from tests.support.server import LiveServer, bootstrap, live_server

WATCH_ENV = {**INSTANCE_ENV, "ATLAS_SA_EVENT_WATCH_INTERVAL_SECONDS": "0.05"}
# How long both watches keep running after a transition was reported, while the count must stay at one: about 20
# runs of each instance.
OBSERVED = 1.0


def count(server: LiveServer, org: str, bearer: str, event_type: str) -> int:
    response = call(server, "GET", f"/orgs/{org}/events?eventType={event_type}", bearer)
    assert response.status_code == 200, response.text
    total: int = response.json()["totalCount"]
    return total


def reported_once(a: LiveServer, b: LiveServer, org: str, bearer: str, event_type: str) -> None:
    within(
        10.0,
        lambda: call(b, "GET", f"/orgs/{org}/events?eventType={event_type}", bearer),
        lambda response: response.status_code == 200 and response.json()["totalCount"] > 0,
    )
    end = time.monotonic() + OBSERVED
    while time.monotonic() < end:
        assert count(a, org, bearer, event_type) == 1
        assert count(b, org, bearer, event_type) == 1
        time.sleep(0.05)


@pytest.mark.slow
def test_two_servers_report_each_transition_once(shared_postgres: str) -> None:
    owner = bootstrap(shared_postgres, INSTANCE_ENV)
    org = owner["orgId"]
    with live_server(shared_postgres, env=WATCH_ENV) as a, live_server(shared_postgres, env=WATCH_ENV) as b:
        boss = a.token(owner["clientId"], owner["clientSecret"])
        made = call(
            a,
            "POST",
            f"/orgs/{org}/serviceAccounts",
            boss,
            # 8 hours: inside the 7-day warning window from the start.
            json={"name": "short", "description": "d", "roles": ["ORG_MEMBER"], "secretExpiresAfterHours": 8},
        )
        assert made.status_code == 201, made.text
        reported_once(a, b, org, boss, "ORG_SERVICE_ACCOUNT_SECRETS_EXPIRING")

        client_id, secret_id = made.json()["clientId"], made.json()["secrets"][0]["id"]
        deleted = call(a, "DELETE", f"/orgs/{org}/serviceAccounts/{client_id}/secrets/{secret_id}", boss)
        assert deleted.status_code == 204, deleted.text
        reported_once(a, b, org, boss, "ORG_SERVICE_ACCOUNT_SECRETS_NO_LONGER_EXPIRING")
