"""Settings from options, the environment and a TOML file (``--config`` / ``ATLAS_SA_CONFIG``), as a user meets them:
the ``atlas-sa`` command run as a real process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from atlas_sa.migrations import HEAD
from tests.support.server import ATLAS_SA


def atlas_sa(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    # A bare environment: nothing of the test run's own ATLAS_SA_* leaks into what is being checked.
    return subprocess.run(
        [ATLAS_SA, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        cwd=cwd,
    )


def toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_file_gives_settings(tmp_path: Path) -> None:
    config = toml(tmp_path / "atlas-sa.toml", f'database_url = "sqlite:///{tmp_path / "from-file.db"}"\n')
    result = atlas_sa("db", "upgrade", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "from-file.db").exists()
    # The environment variable names the file as the option does.
    by_variable = atlas_sa("db", "current", env={"ATLAS_SA_CONFIG": str(config)})
    assert by_variable.returncode == 0, by_variable.stderr
    assert by_variable.stdout.strip() == HEAD


def test_options_outrank_the_environment_which_outranks_the_file(tmp_path: Path) -> None:
    def url(name: str) -> str:
        return f"sqlite:///{tmp_path / name}"

    config = toml(tmp_path / "c.toml", f'database_url = "{url("file.db")}"\n')
    from_env = atlas_sa("db", "upgrade", "--config", str(config), env={"ATLAS_SA_DATABASE_URL": url("env.db")})
    assert from_env.returncode == 0, from_env.stderr
    assert "env.db" in from_env.stdout
    from_option = atlas_sa(
        "db",
        "upgrade",
        "--config",
        str(config),
        "--database-url",
        url("option.db"),
        env={"ATLAS_SA_DATABASE_URL": url("env.db")},
    )
    assert from_option.returncode == 0, from_option.stderr
    assert "option.db" in from_option.stdout
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["env.db", "option.db"]


def test_unknown_names_are_warned_with_the_closest_setting(tmp_path: Path) -> None:
    config = toml(
        tmp_path / "c.toml",
        f'database_url = "sqlite:///{tmp_path / "w.db"}"\nprot = 9000\nzzzzzz = 1\n',
    )
    result = atlas_sa(
        "db",
        "upgrade",
        "--config",
        str(config),
        env={"ATLAS_SA_REQUEST_TIMOUT": "5", "ATLAS_SA_TEST_POSTGRES_URL": "not ours"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "atlas-sa: warning: ATLAS_SA_REQUEST_TIMOUT is not a setting and is ignored; "
        "did you mean ATLAS_SA_REQUEST_TIMEOUT?",
        f"atlas-sa: warning: prot in {config} is not a setting and is ignored; did you mean port?",
        f"atlas-sa: warning: zzzzzz in {config} is not a setting and is ignored",
    ]


@pytest.mark.parametrize(
    ("args", "env", "file", "expected"),
    [
        ((), {"ATLAS_SA_PORT": "70000"}, "", ["ATLAS_SA_PORT: must be ≤ 65535"]),
        (("--port", "70000"), {}, "", ["--port: must be ≤ 65535"]),
        ((), {}, "port = 70000\n", ["port in {config}: must be ≤ 65535"]),
        # The environment outranks the file, so the broken value and its name are the environment's.
        ((), {"ATLAS_SA_PORT": "x"}, "port = 70000\n", ["ATLAS_SA_PORT: must be a whole number"]),
        (
            (),
            {"ATLAS_SA_EVENT_LOOP": "trio", "ATLAS_SA_REQUEST_TIMEOUT": "0", "ATLAS_SA_RATE_LIMIT_TOKEN": "5/5"},
            "",
            [
                "ATLAS_SA_EVENT_LOOP: must be 'asyncio' or 'uvloop'",
                "ATLAS_SA_RATE_LIMIT_TOKEN: must be capacity/refill/seconds, three whole numbers from 1, "
                "like 500/250/60",
                "ATLAS_SA_REQUEST_TIMEOUT: must be > 0",
            ],
        ),
        (
            (),
            {"ATLAS_SA_TRUSTED_PROXIES": "10.0.0.1"},
            "",
            ['ATLAS_SA_TRUSTED_PROXIES: must be JSON, like ["10.0.0.0/8"]'],
        ),
        ((), {}, "access_log = 3\n", ["access_log in {config}: must be true or false"]),
        # A path's rule in our words, not pydantic's ("Input is not a valid path for <class 'pathlib.Path'>").
        ((), {}, "seed = 5\n", ["seed in {config}: must be a file's path (text)"]),
        (
            (),
            {"ATLAS_SA_PROFILE": "production"},
            "",
            ["ATLAS_SA_SECRET_KEY is required when ATLAS_SA_PROFILE=production"],
        ),
        ((), {}, "port = \n", ["config file {config}: not valid TOML: Invalid value (at line 1, column 8)"]),
    ],
)
def test_broken_rules_are_one_line_each(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], file: str, expected: list[str]
) -> None:
    config = toml(tmp_path / "c.toml", file)
    # serve: checked before it touches the database or a port.
    result = atlas_sa(
        "serve", "--database-url", f"sqlite:///{tmp_path / 'x.db'}", "--config", str(config), *args, env=env
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"atlas-sa: error: {line.format(config=config)}" for line in expected]
    assert not (tmp_path / "x.db").exists()


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    for args, env in ((["--config", str(missing)], {}), ([], {"ATLAS_SA_CONFIG": str(missing)})):
        result = atlas_sa("db", "upgrade", "--database-url", f"sqlite:///{tmp_path / 'x.db'}", *args, env=env)
        assert result.returncode == 2
        assert result.stderr == f"atlas-sa: error: config file {missing}: no such file\n"


@pytest.mark.parametrize(
    "command",
    [("serve", "--port", "0"), ("bootstrap",), ("keys", "rotate"), ("db", "upgrade"), ("db", "current")],
)
def test_every_command_refuses_a_short_master_key(tmp_path: Path, command: tuple[str, ...]) -> None:
    # `serve` refused a 15-character key while `db upgrade` and `db current`, which loaded no keys, took it.
    url = f"sqlite:///{tmp_path / 'k.db'}"
    result = atlas_sa(*command, "--database-url", url, env={"ATLAS_SA_SECRET_KEY": "fifteen-chars!!"})
    assert result.returncode == 2
    assert result.stderr == "atlas-sa: error: ATLAS_SA_SECRET_KEY: must be at least 16 characters\n"
    assert not (tmp_path / "k.db").exists()


def test_a_config_file_that_is_not_utf8_text_or_is_a_folder_is_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"port = 1\n\xff\xfe\x00")
    for path, reason in ((binary, "not UTF-8 text"), (tmp_path, "a folder, not a file")):
        result = atlas_sa("config", "show", "--config", str(path))
        assert result.returncode == 2, result.stderr
        assert result.stderr == f"atlas-sa: error: config file {path}: {reason}\n"
