"""How an ``atlas-sa`` process fails, as CI's logs show it: one line on stderr and the exit code of
docs/operating.md, for a usage error and for a failure nobody foresaw alike; a secret it was given never printed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.server import ATLAS_SA

# Distinct enough that finding it anywhere in an output can only mean it was printed.
SECRET = "never-print-me-3f9a1c7e5b2d4068"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``atlas-sa ARGS`` with no terminal: stdin empty, stdout and stderr pipes (as in CI)."""
    return subprocess.run(
        [ATLAS_SA, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**{k: v for k, v in os.environ.items() if k != "ATLAS_SA_SECRET_KEY"}, **(env or {})},
    )


def one_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("atlas-sa: error: ")
    return lines[0].removeprefix("atlas-sa: error: ")


def test_an_unexpected_failure_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    # The development key file's place holds a folder: reading the key fails in a way no command expects.
    (tmp_path / "x.db.key").mkdir()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    line = one_line(run("bootstrap", "--database-url", url), 1)
    assert line == (
        f"unexpected failure: IsADirectoryError: [Errno 21] Is a directory: '{tmp_path / 'x.db.key'}' "
        "(atlas-sa --debug … shows where)"
    )
    debugged = run("--debug", "bootstrap", "--database-url", url)
    assert debugged.returncode == 1
    assert debugged.stderr.startswith("Traceback (most recent call last):")
    assert debugged.stderr.splitlines()[-1] == (
        f"atlas-sa: error: unexpected failure: IsADirectoryError: [Errno 21] Is a directory: '{tmp_path / 'x.db.key'}'"
    )


@pytest.mark.parametrize("what", ["a text file", "a folder"])
@pytest.mark.parametrize("command", [("orgs", "list"), ("bootstrap",), ("db", "upgrade"), ("db", "current")])
def test_a_database_that_is_not_one_is_exit_code_1(tmp_path: Path, what: str, command: tuple[str, ...]) -> None:
    path = tmp_path / "not-a-database"
    if what == "a folder":
        path.mkdir()
    else:
        path.write_text("hello\n")
    line = one_line(run(*command, "--database-url", f"sqlite:///{path}", env={"ATLAS_SA_SECRET_KEY": SECRET}), 1)
    assert line.startswith(f"cannot use database sqlite:///{path}: ")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("orgs", "list", "--bogus"), "No such option: --bogus (see atlas-sa orgs list --help)"),
        (("tokens", "revoke"), "Missing option '--client-id'. (see atlas-sa tokens revoke --help)"),
        (("nope",), "No such command 'nope'. (see atlas-sa --help)"),
        (
            ("secrets", "expiring", "--within", "soon"),
            "Invalid value for '--within': 'soon' is not a duration: a whole number of days, hours or minutes "
            "(7d, 12h, 30m) (see atlas-sa secrets expiring --help)",
        ),
    ],
)
def test_a_usage_error_is_one_line_and_exit_code_2(args: tuple[str, ...], line: str) -> None:
    assert one_line(run(*args), 2) == line


def test_a_group_without_a_command_shows_its_help() -> None:
    done = run("orgs")
    assert done.returncode == 2
    assert "Usage: atlas-sa orgs [OPTIONS] COMMAND [ARGS]..." in done.stdout + done.stderr
    assert "error" not in done.stderr


def test_a_secret_in_the_environment_is_never_printed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    short, other = SECRET[:12], SECRET[::-1]
    runs = [
        (SECRET, run("bootstrap", "--database-url", url, env={"ATLAS_SA_SECRET_KEY": SECRET})),
        (SECRET, run("orgs", "list", "--json", "--database-url", url, env={"ATLAS_SA_SECRET_KEY": SECRET})),
        (SECRET, run("config", "show", "--database-url", url, env={"ATLAS_SA_SECRET_KEY": SECRET})),
        (SECRET, run("config", "show", "--json", "--database-url", url, env={"ATLAS_SA_SECRET_KEY": SECRET})),
        (SECRET, run("orgs", "list", "--bogus", env={"ATLAS_SA_SECRET_KEY": SECRET})),
        # Too short a key: a setting refused (2); another key than the database's: refused (1), naming neither.
        (short, run("--debug", "orgs", "list", "--database-url", url, env={"ATLAS_SA_SECRET_KEY": short})),
        (other, run("--debug", "orgs", "list", "--database-url", url, env={"ATLAS_SA_SECRET_KEY": other})),
        # A database password, in a URL no server answers.
        (
            SECRET,
            run(
                "--debug",
                "orgs",
                "list",
                "--database-url",
                f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/x",
                env={"ATLAS_SA_SECRET_KEY": other},
            ),
        ),
    ]
    assert [done.returncode for _, done in runs] == [0, 0, 0, 0, 2, 2, 1, 1]
    for secret, done in runs:
        assert secret not in done.stdout + done.stderr, done.args
