"""``atlas-sa config show``: every setting with the source that gave it, never a secret."""

from __future__ import annotations

from pathlib import Path

from tests.cli.operate.conftest import KEY, Cli, rows


def test_each_setting_with_its_source_and_no_secret(tmp_path: Path) -> None:
    config = tmp_path / "atlas-sa.toml"
    config.write_text('port = 8443\nhost = "192.0.2.10"\ntrusted_proxies = ["10.0.0.0/8"]\n')
    # The password is the URL's secret; config show never connects, so the database need not exist.
    cli = Cli("postgresql+psycopg://atlas:hunter2-password@db.internal/atlas")
    env = {"ATLAS_SA_PORT": "9000", "ATLAS_SA_CONFIG": str(config)}

    shown = cli.json("config", "show", env=env)
    assert shown["configFile"] == str(config)
    settings = shown["settings"]
    assert settings["port"] == {"value": 9000, "source": "environment", "given": "ATLAS_SA_PORT"}
    assert settings["host"] == {"value": "192.0.2.10", "source": "file", "given": f"host in {config}"}
    assert settings["database_url"] == {
        "value": "postgresql+psycopg://atlas:***@db.internal/atlas",
        "source": "option",
        "given": "--database-url",
    }
    assert settings["secret_key"] == {"value": "(redacted)", "source": "environment", "given": "ATLAS_SA_SECRET_KEY"}
    assert settings["log_level"] == {"value": "info", "source": "default", "given": None}

    human = cli("config", "show", env=env).stdout
    assert KEY not in human
    assert "hunter2" not in human
    first, table = human.split("\n", 1)
    assert first == f"config file: {config}"
    by_name = {row["SETTING"]: row for row in rows(table)}
    assert (by_name["port"]["VALUE"], by_name["port"]["FROM"]) == ("9000", "ATLAS_SA_PORT")
    assert (by_name["trusted_proxies"]["VALUE"], by_name["trusted_proxies"]["FROM"]) == (
        "10.0.0.0/8",
        f"trusted_proxies in {config}",
    )
    assert by_name["secret_key"]["VALUE"] == "(redacted)"
    # A broken rule is refused as every command refuses it: exit code 2, named as given.
    assert cli.error("config", "show", env={"ATLAS_SA_PORT": "70000"}, code=2) == "ATLAS_SA_PORT: must be ≤ 65535"


def test_a_password_in_the_urls_query_is_hidden_too() -> None:
    # libpq takes its password (and its client key's) from the query as well as from the userinfo.
    cli = Cli("postgresql+psycopg://atlas@db.internal/atlas?password=hunter3&sslpassword=hunter4&sslmode=require")
    shown = cli.json("config", "show")["settings"]["database_url"]["value"]
    assert shown == "postgresql+psycopg://atlas@db.internal/atlas?password=***&sslmode=require&sslpassword=***"
    human = cli("config", "show").stdout
    assert "hunter" not in human
