"""An unexpected error is a 500 ``UNEXPECTED_ERROR`` and one log line naming the route and the exception's type:
never its message or traceback, which for a database error hold the SQL and its parameters (client input). In the
app and on a live ``atlas-sa serve``'s stderr, on both databases (``atlas_sa.kit.handlers``, ``atlas_sa.kit.logs``).

The fault is real: a table renamed under the running server, so the next query of it fails in the driver.
"""

from __future__ import annotations

import json
import logging
import re
import sys

import httpx
import pytest
from sqlalchemy import create_engine, text

from atlas_sa.app import create_app
from atlas_sa.kit.clock import FrozenClock
from atlas_sa.kit.db import Database
from atlas_sa.kit.logs import TextFormatter, json_formatter
from atlas_sa.migrations import upgrade
from tests.conftest import EPOCH
from tests.support.client import AtlasClient, basic
from tests.support.server import bootstrap, live_server
from tests.support.settings import MASTER_KEY, settings_on

GROUPS = "/api/atlas/v2/groups"
LINE = re.compile(r"unexpected error on GET /api/atlas/v2/groups: (OperationalError|ProgrammingError)\b")
# What a traceback or a database error's message would show.
NEVER = ("Traceback", "SELECT", "projects", "[SQL", "Exception in ASGI application")


@pytest.fixture
def database_to_break(own_database: str) -> str:
    """A migrated database of this test's own: the test breaks its schema."""
    upgrade(own_database)
    return own_database


def break_projects_table(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE projects RENAME TO projects_gone"))
    finally:
        engine.dispose()


async def test_in_the_app(database_to_break: str, caplog: pytest.LogCaptureFixture) -> None:
    database = Database(database_to_break)
    app = create_app(settings_on(database_to_break), clock=FrozenClock(EPOCH), database=database)
    try:
        # The transport re-raises whatever the app lets out: the response below proves nothing got out.
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with AtlasClient(app=app, transport=transport, base_url="http://atlas.test") as client:
            await client.create_org("home")
            break_projects_table(database_to_break)
            caplog.set_level(logging.DEBUG)
            # SQLAlchemy's statement log is an operator's opt-in that writes every statement; what is under test is
            # the record of the error, so the statement log stays at SQLAlchemy's default (off).
            caplog.set_level(logging.WARNING, logger="sqlalchemy")
            response = await client.get(f"{GROUPS}?pretty=true")
    finally:
        await database.dispose()
    assert response.status_code == 500
    assert response.headers["x-error-code"] == "UNEXPECTED_ERROR"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text.startswith("{\n")  # pretty, as every Atlas error
    assert response.json()["detail"] == "Unexpected error."
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert LINE.fullmatch(errors[0].getMessage()), errors[0].getMessage()
    for record in caplog.records:
        assert record.exc_info is None
        assert record.stack_info is None
        assert not any(word in record.getMessage() for word in NEVER), record.getMessage()


@pytest.mark.slow
def test_on_a_live_servers_stderr(database_to_break: str) -> None:
    env = {"ATLAS_SA_SECRET_KEY": MASTER_KEY, "ATLAS_SA_LOG_LEVEL": "debug"}
    made = bootstrap(database_to_break, env)
    with live_server(database_to_break, env=env) as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            token = http.post(
                "/api/oauth/token",
                data={"grant_type": "client_credentials"},
                headers=basic(made["clientId"], made["clientSecret"]),
            )
            assert token.status_code == 200, token.text
            break_projects_table(database_to_break)
            response = http.get(
                GROUPS,
                headers={
                    "Authorization": f"Bearer {token.json()['access_token']}",
                    "Accept": "application/vnd.atlas.2023-01-01+json",
                },
            )
        assert response.status_code == 500
        assert response.json()["errorCode"] == "UNEXPECTED_ERROR"
        stderr = server.log()
    lines = [line for line in stderr.splitlines() if "unexpected error" in line]
    assert len(lines) == 1, stderr
    assert LINE.search(lines[0]), stderr
    assert response.headers["x-request-id"] in lines[0], stderr
    for word in NEVER:
        assert word not in stderr, stderr


def test_the_servers_log_formats_write_an_exceptions_type_only() -> None:
    """``atlas-sa serve``'s log formats (text and JSON, for every logger, uvicorn's included): a record logged with
    its exception and a stack, as uvicorn logs a failed start-up, comes out as its message and the exception's type."""
    try:
        raise RuntimeError("SELECT secret FROM t WHERE x = 'client input'")  # noqa: TRY301
    except RuntimeError:
        exc_info = sys.exc_info()

    def record() -> logging.LogRecord:
        made = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "start-up %s", ("failed",), exc_info)
        made.stack_info = "Stack (most recent call last): ..."
        return made

    text = TextFormatter().format(record())
    assert text.endswith(" ERROR uvicorn.error: start-up failed [exception RuntimeError (traceback not logged)]"), text
    written = json.loads(json_formatter().format(record()))
    assert written["message"] == "start-up failed"
    assert written["exc_info"] == "RuntimeError (traceback not logged)"
    assert "stack_info" not in written
    for output in (text, json.dumps(written)):
        assert "SELECT" not in output
        assert "Traceback" not in output
        assert "Stack" not in output
