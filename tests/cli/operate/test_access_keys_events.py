"""``atlas-sa access-lists …``, ``atlas-sa api-keys …`` and ``atlas-sa events list`` as real processes, on SQLite
and PostgreSQL, with what they do seen through HTTP: an entry enforced, a key authenticating with Digest, an event
listed by the API as by the command line."""

from __future__ import annotations

import json

import httpx

from tests.cli.operate.conftest import Cli, rows
from tests.support.client import AtlasClient, accept

EVENTS = accept("2023-01-01")
ACCESS_LIST_EVENTS = ("SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED", "SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_DELETED")


def unlinked(documents: list[dict[str, object]]) -> list[dict[str, object]]:
    """Events without their ``links``: the processes name the configured issuer, the test app its own address."""
    return [{k: v for k, v in document.items() if k != "links"} for document in documents]


async def test_an_access_list_made_by_the_cli_is_enforced_and_its_events_listed(cli: Cli, http: AtlasClient) -> None:
    org = await http.create_org("home")
    account = await http.add_account(org, ["ORG_READ_ONLY"])
    client_id = account.client_id
    caller = http.anonymous()  # the account's own requests come from 203.0.113.7 (the fixture's transport)

    # Several at once, as the API's body: an address, and a block with host bits (reduced to its network).
    added = cli.json("access-lists", "add", client_id, "198.51.100.7", "10.1.2.3/8", "--org", org)
    assert sorted((e["cidrBlock"], e.get("ipAddress")) for e in added["results"]) == [
        ("10.0.0.0/8", None),
        ("198.51.100.7/32", "198.51.100.7"),
    ]
    assert added["totalCount"] == 2
    through_api = await http.get(f"/api/atlas/v2/orgs/{org}/serviceAccounts/{client_id}/accessList")
    assert through_api.json()["results"] == added["results"]
    caller.use_token(await caller.token_for(client_id, account.client_secret))
    refused = await caller.get(f"/api/atlas/v2/orgs/{org}")
    assert (refused.status_code, refused.json()["errorCode"]) == (403, "IP_ADDRESS_NOT_ON_ACCESS_LIST")

    done = cli("access-lists", "add", client_id, "203.0.113.7").stdout  # through the account's own organization
    headline, table = done.split("\n", 1)
    assert headline == f"Added 1 entry to the access list of {client_id}."
    assert {r["CIDR BLOCK"]: r["IP ADDRESS"] for r in rows(table)} == {
        "10.0.0.0/8": "-",
        "198.51.100.7/32": "198.51.100.7",
        "203.0.113.7/32": "203.0.113.7",
    }
    # A fresh token: a server caches a token's access rules, and only PostgreSQL's bus tells it of another
    # process's change (docs/operating.md).
    caller.use_token(await caller.token_for(client_id, account.client_secret))
    assert (await caller.get(f"/api/atlas/v2/orgs/{org}")).status_code == 200

    # The API's rules and errors: the same network twice (409: exit code 4), no such entry (404: 3).
    assert cli.error("access-lists", "add", client_id, "10.9.9.9/8", "--org", org, code=4) == (
        "The address 10.9.9.9/8 is already on the access list. (ADDRESS_ALREADY_IN_ACCESS_LIST)"
    )
    assert cli.json("access-lists", "delete", client_id, "10.0.0.0/8", "--org", org) == {
        "clientId": client_id,
        "cidrBlock": "10.0.0.0/8",
        "deleted": True,
    }
    assert cli.error("access-lists", "delete", client_id, "10.0.0.0/8", "--org", org, code=3) == (
        "Cannot find resource 10.0.0.0/8. (RESOURCE_NOT_FOUND)"
    )
    listed = rows(cli("access-lists", "list", client_id).stdout)
    assert sorted(r["CIDR BLOCK"] for r in listed) == ["198.51.100.7/32", "203.0.113.7/32"]

    # Every write above is an event, the same through the command line as through the API.
    query = "&".join(f"eventType={t}" for t in ACCESS_LIST_EVENTS)
    api = (await http.get(f"/api/atlas/v2/orgs/{org}/events?{query}&includeRaw=true", headers=EVENTS)).json()
    shown = cli.json(
        "events", "list", "--org", org, *(f"--event-type={t}" for t in ACCESS_LIST_EVENTS), "--include-raw"
    )
    assert shown["totalCount"] == api["totalCount"] == 4
    assert unlinked(shown["results"]) == unlinked(api["results"])
    newest = shown["results"][0]
    assert (newest["eventTypeName"], newest["username"], newest["raw"]["cidrBlock"]) == (
        "SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_DELETED",
        "atlas-sa-cli",
        "10.0.0.0/8",
    )
    # A page of the human table, newest first (events of one second, made by this test's app and by the commands,
    # in the order they were made: tests/kit/test_ids.py), the API's page, and how to reach the next.
    *page, more = cli("events", "list", "--org", org, "--limit", "2", "--page", "2").stdout.strip().splitlines()
    shown_page = rows("\n".join(page))
    assert [(r["EVENT TYPE"], r["BY"]) for r in shown_page] == [
        ("SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED", "atlas-sa-cli"),
        ("SERVICE_ACCOUNT_ACCESS_LIST_ENTRY_ADDED", "atlas-sa-cli"),
    ]
    api_page = (await http.get(f"/api/atlas/v2/orgs/{org}/events?itemsPerPage=2&pageNum=2", headers=EVENTS)).json()
    assert [r["ID"] for r in shown_page] == [e["id"] for e in api_page["results"]]
    every = (await http.get(f"/api/atlas/v2/orgs/{org}/events?itemsPerPage=1", headers=EVENTS)).json()
    assert more == f"(events 3-4 of {every['totalCount']}; --page 3 for more)"

    # A project's events: the project made through the API, by the account that made it.
    group_id = await http.create_project(org, "web")
    project_events = cli.json("events", "list", "--org", org, "--project", group_id)["results"]
    assert [(e["eventTypeName"], e["groupId"], e["username"]) for e in project_events] == [
        ("GROUP_CREATED", group_id, http.credentials.client_id if http.credentials else None)
    ]
    # The API's validation, and its error.
    bad_type = await http.get(f"/api/atlas/v2/orgs/{org}/events?eventType=NOPE", headers=EVENTS)
    assert bad_type.status_code == 400
    assert cli.error("events", "list", "--org", org, "--event-type", "NOPE", code=2) == (
        f"{bad_type.json()['detail']} ({bad_type.json()['errorCode']})"
    )


async def test_an_api_key_made_by_the_cli_authenticates_until_deleted(cli: Cli, http: AtlasClient) -> None:
    org = await http.create_org("home")
    digest = http.anonymous()

    made = cli(
        "api-keys", "create", "--org", org, "--role", "ORG_READ_ONLY", "--role", "ORG_MEMBER", "--description", "ci"
    ).stdout
    lines = dict(line.split(maxsplit=1) for line in made.splitlines() if line.startswith("  "))
    public_key, private_key = lines["publicKey"], lines["privateKey"]
    assert made.splitlines()[0].endswith(f"in organization {org}, roles ORG_MEMBER, ORG_READ_ONLY.")
    digest.auth = httpx.DigestAuth(public_key, private_key)
    assert (await digest.get(f"/api/atlas/v2/orgs/{org}")).status_code == 200
    # ORG_READ_ONLY does not create projects: the key has the roles asked for and no more.
    assert (await digest.post("/api/atlas/v2/groups", json={"name": "p", "orgId": org})).status_code == 401

    second = cli.json("api-keys", "create", "--org", org, "--role", "ORG_OWNER", "--description", "second")
    assert (second["desc"], second["roles"]) == ("second", [{"orgId": org, "roleName": "ORG_OWNER"}])
    assert len(second["privateKey"]) == 36
    assert cli.error("api-keys", "create", "--org", org, "--role", "GROUP_OWNER", "--description", "x", code=2) == (
        "An invalid enumeration value GROUP_OWNER was specified. (INVALID_ENUM_VALUE)"
    )

    # Listed, never with a private key: bootstrap's key (the test's organization), then the two made here.
    listed = cli("api-keys", "list", "--org", org, "--json").stdout
    for secret in (private_key, second["privateKey"], "privateKey"):
        assert secret not in listed
    documents = {key["publicKey"]: key for key in json.loads(listed)["results"]}
    assert documents[second["publicKey"]] == {k: v for k, v in second.items() if k != "privateKey"}
    table = {r["PUBLIC KEY"]: r for r in rows(cli("api-keys", "list").stdout)}
    assert set(table) == set(documents)
    assert (table[public_key]["ROLES"], table[public_key]["DESCRIPTION"]) == ("ORG_MEMBER,ORG_READ_ONLY", "ci")

    # Deleted by its public key, it stops authenticating at once.
    assert cli.json("api-keys", "delete", public_key, "--org", org)["deleted"] is True
    assert (await digest.get(f"/api/atlas/v2/orgs/{org}")).status_code == 401

    shown = rows(cli("events", "list", "--org", org, "--event-type", "API_KEY_DELETED").stdout)
    assert [(r["EVENT TYPE"], r["BY"], r["ABOUT"]) for r in shown] == [("API_KEY_DELETED", "atlas-sa-cli", public_key)]
    api = (await http.get(f"/api/atlas/v2/orgs/{org}/events?eventType=API_KEY_DELETED", headers=EVENTS)).json()
    assert [e["id"] for e in api["results"]] == [r["ID"] for r in shown]
