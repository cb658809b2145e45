"""The README's first call, run as a user runs it: its shell blocks, taken from README.md itself (so this test breaks
when the README drifts), in bash with curl and python3, against a real server in the same directory.

The one change made to the commands: the port, which is the test server's rather than 8080.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.server import live_server

README = Path(__file__).resolve().parents[2] / "README.md"


def first_call_blocks() -> list[str]:
    section = README.read_text().split("\n## A first call\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def json_documents(text: str) -> list[Any]:
    decoder, documents, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        document, at = decoder.raw_decode(text, at)
        documents.append(document)
    return documents


def bash(script: str, cwd: Path, *, strict: bool) -> subprocess.CompletedProcess[str]:
    options = ["-e", "-o", "pipefail"] if strict else []
    return subprocess.run(
        ["bash", *options, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_readmes_first_call_works_as_written(tmp_path: Path) -> None:
    bootstrap, token_and_call, digest = first_call_blocks()
    # `.venv/bin/atlas-sa`, as in the project's folder.
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    with live_server("sqlite:///./atlas-sa.db", cwd=tmp_path) as server:
        port = server.base_url.rsplit(":", 1)[1]

        def here(block: str) -> str:
            return block.replace("127.0.0.1:8080", f"127.0.0.1:{port}")

        # Every command must succeed (-e, pipefail); the ids are printed last only for the wrong-secret run below.
        script = "\n".join([bootstrap, here(token_and_call), here(digest), 'printf "\\n%s\\n" "$CLIENT_ID"'])
        result = bash(script, tmp_path, strict=True)
        assert result.returncode == 0, result.stderr
        answers, client_id = result.stdout.rstrip("\n").rsplit("\n", 1)
        orgs, org = json_documents(answers)
        assert [o["name"] for o in orgs["results"]] == ["atlas-sa"]
        assert org["id"] == orgs["results"][0]["id"]
        assert f"in the database sqlite:///{tmp_path.resolve() / 'atlas-sa.db'}" in result.stderr
        assert re.search(r"secret expires 20\d\d-\d\d-\d\dT", result.stderr)

        # A wrong secret: the server's own error, not a Python traceback.
        wrong = bash(
            f"CLIENT_ID={client_id} CLIENT_SECRET=mdb_sa_sk_{'x' * 40}\n{here(token_and_call)}", tmp_path, strict=False
        )
        assert "Traceback" not in wrong.stderr
        assert json.loads(wrong.stderr.splitlines()[0])["error"] == "invalid_client"
