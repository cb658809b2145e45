"""``atlas-sa secrets …`` and ``atlas-sa tokens revoke`` as real processes, on SQLite and PostgreSQL: a rotation
without downtime, seen through the token endpoint, and its refusal while the old secret alone carries traffic."""

from __future__ import annotations

import time

import httpx

from tests.cli.operate.conftest import KEY, Cli, rows
from tests.support.client import TOKEN_PATH, AtlasClient, accept, basic
from tests.support.server import live_server

EVENTS = accept("2023-01-01")
SA = accept("2024-08-05")


async def mints(http: AtlasClient, client_id: str, secret: str) -> int:
    response = await http.post(TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=basic(client_id, secret))
    return response.status_code


async def test_rotation_then_revocation(cli: Cli, http: AtlasClient) -> None:
    made = await http.bootstrap("acme")
    client_id, old = made.client_id, made.client_secret
    # Traffic on the current secret: a token minted with it (its lastUsedAt), kept unused for the checks below.
    old_token = await http.token_for(client_id, old)

    rotated = cli.json("secrets", "rotate", client_id)
    new = rotated["secret"]["secret"]
    assert rotated["next"] == f"atlas-sa secrets rotate {client_id} --finish"
    # The older secret is capped at 7 days (Atlas's rule); both authenticate meanwhile: no downtime.
    (previous,) = rotated["previous"]
    assert previous["expiresAt"] < made.as_json()["secretExpiresAt"]
    assert await mints(http, client_id, old) == 200

    # The old secret alone carries recent traffic: finishing now would cut it off, so it is refused (exit 4).
    refusal = cli.error("secrets", "rotate", client_id, "--finish", code=4)
    assert refusal.startswith(
        f"the old secret still authenticates recent traffic and the new one {rotated['secret']['id']}"
    )
    assert "--force" in refusal
    assert (
        cli.error("secrets", "rotate", client_id, code=4)
        == f"Service account {client_id} already has the maximum of 2 secrets. "
        f"(MAX_SECRETS_PER_SERVICE_ACCOUNT_EXCEEDED): finish the rotation in progress first: "
        f"atlas-sa secrets rotate {client_id} --finish"
    )

    # Clients move to the new secret; then finishing deletes the old one, which revokes what it minted.
    new_token = await http.token_for(client_id, new)
    finished = cli("secrets", "rotate", client_id, "--finish").stdout.splitlines()
    assert finished[0].startswith(f"Deleted secret {previous['id']} ")
    assert finished[-1].startswith("Warning: deleted while in recent use: ")  # the old one was used too
    assert await mints(http, client_id, old) == 401
    assert await mints(http, client_id, new) == 200
    assert (
        await http.get("/api/atlas/v2/orgs", headers={**EVENTS, "Authorization": f"Bearer {old_token}"})
    ).status_code == 401
    assert cli.json("secrets", "rotate", client_id, "--finish")["deleted"] == []

    # A second secret caps this one at 7 days: it is now among every organization's expiring secrets.
    extra = cli.json("secrets", "create", client_id, "--expires-after", "10d")
    assert extra["secret"].startswith("mdb_sa_sk_")
    expiring = cli.json("secrets", "expiring", "--within", "8d")
    assert [(s["clientId"], s["id"], s["expired"]) for s in expiring["results"]] == [
        (client_id, rotated["secret"]["id"], False)
    ]
    table = rows(cli("secrets", "expiring", "--within", "8d").stdout)
    assert [(r["CLIENT ID"], r["STATUS"]) for r in table] == [(client_id, "expiring")]
    assert cli.json("secrets", "delete", client_id, extra["id"]) == {
        "clientId": client_id,
        "secretId": extra["id"],
        "deleted": True,
    }
    assert cli.error("secrets", "delete", client_id, extra["id"], code=3) == (
        f"Cannot find resource {extra['id']}. (RESOURCE_NOT_FOUND)"
    )
    assert "not a duration" in cli("secrets", "expiring", "--within", "soon", code=2).stderr

    # A suspected leak: every live token goes at once; the secret still mints new ones.
    second_token = await http.token_for(client_id, new)
    assert cli.json("tokens", "revoke", "--client-id", client_id) == {"clientId": client_id, "revoked": 3}
    for token in (new_token, second_token):
        got = await http.get("/api/atlas/v2/orgs", headers={**EVENTS, "Authorization": f"Bearer {token}"})
        assert got.status_code == 401
    assert await mints(http, client_id, new) == 200

    await http.login(client_id, new)
    events = (await http.get(f"/api/atlas/v2/orgs/{made.org_id}/events?itemsPerPage=500", headers=EVENTS)).json()
    by_cli = [e["eventTypeName"] for e in events["results"] if e.get("username") == "atlas-sa-cli"]
    assert by_cli.count("SERVICE_ACCOUNT_SECRET_ADDED") == 2
    assert by_cli.count("SERVICE_ACCOUNT_SECRET_DELETED") == 2


def refused_within(http: httpx.Client, path: str, token: str, seconds: float = 2.0) -> None:
    """``token``, accepted and cached by the server, is refused on ``path`` within ``seconds`` of now."""
    headers = {**SA, "Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + seconds
    while (status := http.get(path, headers=headers).status_code) == 200:
        assert time.monotonic() < deadline, f"the running server still accepts the token after {seconds} s"
        time.sleep(0.05)
    assert status == 401


def test_a_running_server_hears_the_operators_changes_at_once(cli: Cli) -> None:
    """The operator's CLI is another process than the running server. Each change it commits reaches the server with
    its commit (on PostgreSQL a notification, on SQLite the change log the server polls), so a token the server has
    already accepted, and cached, is refused within a second or two, and a cached read shows a new name."""
    with (
        live_server(cli.url, env={"ATLAS_SA_SECRET_KEY": KEY}) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        owner = cli.json("bootstrap")
        org = owner["orgId"]

        def account(name: str) -> tuple[str, str, str]:
            """A new account's client id, its secret's id, and a token the server has accepted (and cached)."""
            made = cli.json(
                "accounts", "create", "--org", org, "--name", name, "--description", name, "--role", "ORG_READ_ONLY",
                "--expires-after", "30d",
            )  # fmt: skip
            (secret,) = made["secrets"]
            granted = http.post(
                TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(made["clientId"], secret["secret"])
            )
            token = granted.json()["access_token"]
            read = http.get(f"/api/atlas/v2/orgs/{org}", headers={**SA, "Authorization": f"Bearer {token}"})
            assert read.status_code == 200, read.text
            return made["clientId"], secret["id"], token

        leaked, secret_gone, account_gone = account("leaked"), account("secret-gone"), account("account-gone")
        assert cli.json("tokens", "revoke", "--client-id", leaked[0])["revoked"] == 1
        refused_within(http, f"/api/atlas/v2/orgs/{org}", leaked[2])
        assert cli.json("secrets", "delete", secret_gone[0], secret_gone[1])["deleted"] is True
        refused_within(http, f"/api/atlas/v2/orgs/{org}", secret_gone[2])
        assert cli.json("accounts", "delete", account_gone[0])["deleted"] is True
        refused_within(http, f"/api/atlas/v2/orgs/{org}", account_gone[2])

        # The owner's read of an account, served from the view cache from its second time on, shows a rename.
        renamed, _, _ = account("before")
        granted = http.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(owner["clientId"], owner["clientSecret"])
        )
        bearer = {**SA, "Authorization": f"Bearer {granted.json()['access_token']}"}
        path = f"/api/atlas/v2/orgs/{org}/serviceAccounts/{renamed}"
        assert [http.get(path, headers=bearer).json()["name"] for _ in range(2)] == ["before", "before"]
        assert cli.json("accounts", "update", renamed, "--name", "after")["name"] == "after"
        deadline = time.monotonic() + 2.0
        while (name := http.get(path, headers=bearer).json()["name"]) == "before":
            assert time.monotonic() < deadline, "the running server still shows the cached name after 2 s"
            time.sleep(0.05)
        assert name == "after"


async def test_a_duration_past_the_calendar_is_a_usage_error(cli: Cli, http: AtlasClient) -> None:
    made = await http.bootstrap("acme")
    cli.json("secrets", "create", made.client_id, "--expires-after", "10d")
    # 999999 days back is before year 1: it was an OverflowError's traceback (exit 1) with two secrets to compare.
    for option, value in (("--recent", "999999d"), ("--within", "36501d")):
        args = ("secrets", "rotate", made.client_id, "--finish") if option == "--recent" else ("secrets", "expiring")
        refused = cli(*args, option, value, code=2)
        assert "Traceback" not in refused.stderr
        assert "at most 36500 days" in refused.stderr
    assert len(cli.json("accounts", "show", made.client_id)["secrets"]) == 2  # nothing was deleted
    assert cli.json("secrets", "expiring", "--within", "36500d")["totalCount"] == 2
