"""``atlas-sa orgs …`` and ``atlas-sa projects …`` as real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.cli.operate.conftest import Cli, block, rows
from tests.support.client import AtlasClient, accept

EVENTS = accept("2023-01-01")


async def test_orgs_and_projects_as_the_api_makes_them(cli: Cli, http: AtlasClient) -> None:
    home = await http.create_org("home")  # an organization made through the API's own service, with a credential

    made = cli.json("orgs", "create", "acme")["organization"]
    assert made["name"] == "acme"
    assert made["links"] == [{"href": f"http://127.0.0.1:8080/api/atlas/v2/orgs/{made['id']}", "rel": "self"}]
    # The API's own name rule, its error, and exit code 2; nothing is made.
    assert cli.error("orgs", "create", "no/slash", code=2) == "Invalid attribute name specified. (INVALID_ATTRIBUTE)"

    listed = rows(cli("orgs", "list").stdout)
    assert sorted((r["ID"], r["NAME"]) for r in listed) == sorted([(home, "home"), (made["id"], "acme")])
    assert cli.json("orgs", "list", "--name", "acme") == {"results": [made], "totalCount": 1}

    project = cli.json("projects", "create", "web", "--org", home)
    assert (project["name"], project["orgId"], project["clusterCount"]) == ("web", home, 0)
    # Names are unique within an organization (409): exit code 4.
    assert (
        cli.error("projects", "create", "web", "--org", home, code=4)
        == "A group with name web already exists. (GROUP_ALREADY_EXISTS)"
    )
    assert cli.error("projects", "create", "web", "--org", "0" * 24, code=3) == (
        f"No organization with ID {'0' * 24} exists. (ORG_NOT_FOUND)"
    )
    shown = block(cli("orgs", "show", home).stdout)
    assert (shown["name"], shown["projects"], shown["apiAccessListRequired"]) == ("home", "1", "false")
    assert cli.json("orgs", "show", made["id"]) == made

    # What the command line made is the API's: the project, and the event naming the command line as its actor.
    got = await http.get(f"/api/atlas/v2/groups/{project['id']}", headers=accept("2023-01-01"))
    assert got.status_code == 200
    assert {k: v for k, v in got.json().items() if k != "links"} == {k: v for k, v in project.items() if k != "links"}
    events = (await http.get(f"/api/atlas/v2/orgs/{home}/events?eventType=GROUP_CREATED", headers=EVENTS)).json()
    assert [(e["groupId"], e["username"]) for e in events["results"]] == [(project["id"], "atlas-sa-cli")]

    assert [r["NAME"] for r in rows(cli("projects", "list", "--org", home).stdout)] == ["web"]
    assert cli("projects", "delete", project["id"]).stdout == f"Deleted project {project['id']}.\n"
    assert cli.error("projects", "delete", project["id"], code=3) == (
        f"No group with ID {project['id']} exists. (GROUP_NOT_FOUND)"
    )
    assert cli.json("projects", "list") == {"results": [], "totalCount": 0}
    deleted = (await http.get(f"/api/atlas/v2/orgs/{home}/events?eventType=GROUP_DELETED", headers=EVENTS)).json()
    assert [e["username"] for e in deleted["results"]] == ["atlas-sa-cli"]


def test_a_missing_database_is_not_made(tmp_path: object) -> None:
    missing = Cli(f"sqlite:///{tmp_path}/nothing-here.db")
    assert missing.error("orgs", "list", code=1).startswith("no database at sqlite:///")
