"""``atlas-sa accounts …`` as real processes, on SQLite and PostgreSQL: both paths, the API's rules and errors, and
the API seeing what they made."""

from __future__ import annotations

from tests.cli.operate.conftest import Cli, block, rows
from tests.support.client import AtlasClient, accept

SA = accept("2024-08-05")
EVENTS = accept("2023-01-01")


async def test_accounts_on_both_paths(cli: Cli, http: AtlasClient) -> None:
    made = await http.bootstrap("acme", project_name="web")
    await http.login(made.client_id, made.client_secret)
    org, group = made.org_id, made.group_id
    assert group is not None

    ci = cli.json(
        "accounts", "create", "--org", org, "--name", "ci", "--description", "CI runner", "--role", "ORG_READ_ONLY",
        "--expires-after", "30d",
    )  # fmt: skip
    assert (ci["name"], ci["roles"], len(ci["secrets"])) == ("ci", ["ORG_READ_ONLY"], 1)
    secret = ci["secrets"][0]["secret"]
    # The secret the command printed, once, authenticates at the token endpoint; the account reads as it printed.
    token = await http.token_for(ci["clientId"], secret)
    read = await http.get(
        f"/api/atlas/v2/orgs/{org}/serviceAccounts/{ci['clientId']}",
        headers={**SA, "Authorization": f"Bearer {token}"},
    )
    assert read.status_code == 200
    assert read.json()["secrets"][0]["maskedSecretValue"].endswith(secret[-4:])
    assert "secret" not in read.json()["secrets"][0]

    # The project path: the account joins the organization as ORG_MEMBER and the project with its roles there.
    deploy = block(
        cli(
            "accounts", "create", "--project", group, "--name", "deploy", "--description", "deploys",
            "--role", "GROUP_READ_ONLY", "--without-secret",
        ).stdout.split("\n", 1)[1].split("\n\n")[0]
    )  # fmt: skip
    assert (deploy["name"], deploy["roles"]) == ("deploy", "GROUP_READ_ONLY")
    assigned = cli.json("accounts", "assign", ci["clientId"], "--project", group, "--role", "GROUP_OWNER")
    assert assigned["roles"] == ["GROUP_OWNER"]
    updated = cli.json("accounts", "update", deploy["clientId"], "--description", "ships releases")
    assert (updated["description"], updated["roles"]) == ("ships releases", ["ORG_MEMBER"])

    listed = rows(cli("accounts", "list", "--org", org).stdout)
    assert sorted(r["NAME"] for r in listed) == ["bootstrap", "ci", "deploy"]
    in_project = cli.json("accounts", "list", "--project", group)
    assert sorted((a["name"], tuple(a["roles"])) for a in in_project["results"]) == [
        ("ci", ("GROUP_OWNER",)),
        ("deploy", ("GROUP_READ_ONLY",)),
    ]
    shown = cli("accounts", "show", ci["clientId"]).stdout
    assert block(shown.split("\n\n")[0])["projects"] == f"{group} (GROUP_OWNER)"
    api = await http.get(f"/api/atlas/v2/orgs/{org}/serviceAccounts/{ci['clientId']}", headers=SA)
    assert cli.json("accounts", "show", ci["clientId"], "--org", org) == api.json()

    # The API's errors, exit codes 2 and 3; nothing made.
    assert cli.error(
        "accounts", "create", "--org", org, "--name", "x", "--description", "y", "--role", "GROUP_OWNER",
        "--expires-after", "30d", code=2,
    ) == "An invalid enumeration value GROUP_OWNER was specified. (INVALID_ENUM_VALUE)"  # fmt: skip
    assert cli.error(
        "accounts", "create", "--org", org, "--name", "x", "--description", "y", "--role", "ORG_MEMBER",
        "--expires-after", "4h", code=2,
    ) == "Invalid attribute secretExpiresAfterHours specified. (INVALID_ATTRIBUTE)"  # fmt: skip
    unknown = "mdb_sa_id_" + "0" * 24
    assert cli.error("accounts", "show", unknown, code=3) == f"Cannot find resource {unknown}. (RESOURCE_NOT_FOUND)"

    # --project removes from the project only; the organization path deletes the account.
    assert cli.json("accounts", "delete", deploy["clientId"], "--project", group)["deleted"] is True
    assert cli.json("accounts", "show", deploy["clientId"])["roles"] == ["ORG_MEMBER"]
    assert cli("accounts", "delete", deploy["clientId"]).stdout == f"Deleted service account {deploy['clientId']}.\n"

    events = (await http.get(f"/api/atlas/v2/orgs/{org}/events?itemsPerPage=500", headers=EVENTS)).json()["results"]
    by_cli = [(e["eventTypeName"], e.get("groupId")) for e in events if e.get("username") == "atlas-sa-cli"]
    assert sorted(by_cli, key=str) == sorted(
        [
            ("SERVICE_ACCOUNT_CREATED", None),
            ("SERVICE_ACCOUNT_CREATED", group),
            ("SERVICE_ACCOUNT_ADDED_TO_GROUP", group),
            ("SERVICE_ACCOUNT_DETAILS_CHANGED", None),
            ("SERVICE_ACCOUNT_REMOVED_FROM_GROUP", group),
            ("SERVICE_ACCOUNT_DELETED", None),
            # bootstrap, in process, records as the command line too
            ("ORG_CREATED", None),
            ("GROUP_CREATED", group),
            ("SERVICE_ACCOUNT_CREATED", None),
            ("API_KEY_CREATED", None),
        ],
        key=str,
    )
