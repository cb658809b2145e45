"""A real atlas-sa for a test suite: :func:`atlas_sa_server` starts ``atlas-sa serve --seed`` as a child process on a
free loopback port over a temporary database, waits until it answers, hands over its base URL and the seed's
credentials, and stops it at the end (``docs/ci.md``).

The server runs in its own process (``python -m atlas_sa``, this interpreter), so the test process keeps no server
state, event loop or database connection of it: the suite talks to it over real HTTP, as an Atlas client would.
This module imports only the standard library; the seed file is checked by the server, which refuses a bad one
naming the entry (raised here as :class:`ServerFailed` with the server's output).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SERVING = re.compile(r"serving on (https?://\S+) with")


class ServerFailed(RuntimeError):
    """The server exited, or did not answer in time; the message holds what it wrote."""


@dataclass(frozen=True)
class ServiceAccount:
    name: str
    org_id: str
    client_id: str
    # The seed's first secret for the account; ``None`` when it names none. Out of the repr, which a failing
    # assertion or ``--showlocals`` prints into CI logs (the generated seed's secrets are fresh, not public).
    client_secret: str | None = field(repr=False)
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiKey:
    org_id: str
    public_key: str
    private_key: str = field(repr=False)  # as ``client_secret``
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class AtlasSA:
    """A running server and what its seed holds."""

    base_url: str
    database_url: str
    seed: Path
    log_file: Path
    # The development CA to trust (``https=True``): pass it as ``verify``/``cafile``, or as ``SSL_CERT_FILE``.
    ca_file: Path | None
    service_accounts: tuple[ServiceAccount, ...]
    api_keys: tuple[ApiKey, ...]
    # The seed's first organization and its first project.
    org_id: str | None
    group_id: str | None

    def account(self, name: str | None = None) -> ServiceAccount:
        """The seeded service account of this name; without one, the first."""
        for account in self.service_accounts:
            if name is None or account.name == name:
                return account
        raise LookupError(f"the seed {self.seed} has no service account named {name!r}")

    def ssl_context(self) -> ssl.SSLContext:
        """A client context verifying this server: against its development CA, else the system's roots."""
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()

    def token(self, name: str | None = None) -> str:
        """An access token for the seeded account ``name`` (OAuth 2.0 client credentials, RFC 6749 §4.4)."""
        account = self.account(name)
        if account.client_secret is None:
            raise LookupError(f"the seed gives service account {account.name!r} no secret")
        request = urllib.request.Request(  # noqa: S310 - our own server's http(s) URL
            f"{self.base_url}/api/oauth/token",
            data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
            headers={"Authorization": _basic(account.client_id, account.client_secret)},
        )
        with urllib.request.urlopen(request, timeout=30, context=self.ssl_context()) as response:  # noqa: S310
            token: str = json.loads(response.read())["access_token"]
            return token


def _basic(user: str, password: str) -> str:
    # RFC 6749 §2.3.1: both parts form-encoded before Basic.
    pair = f"{urllib.parse.quote_plus(user)}:{urllib.parse.quote_plus(password)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def generated_seed(path: Path) -> Path:
    """A seed with fresh random credentials: one organization, one project, an ``ORG_OWNER`` service account and
    an ``ORG_OWNER`` API key. What :func:`atlas_sa_server` uses when given no seed."""
    ids = [secrets.token_hex(12) for _ in range(3)]
    secret = "mdb_sa_sk_" + secrets.token_urlsafe(30)
    public_key = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
    path.write_text(
        f'[[orgs]]\nid = "{ids[0]}"\nname = "test"\n\n'
        f'[[orgs.projects]]\nid = "{ids[1]}"\nname = "test"\n\n'
        f'[[orgs.serviceAccounts]]\nclientId = "mdb_sa_id_{ids[2]}"\nname = "owner"\nroles = ["ORG_OWNER"]\n\n'
        f'[[orgs.serviceAccounts.secrets]]\nsecret = "{secret}"\n\n'
        f'[[orgs.apiKeys]]\npublicKey = "{public_key}"\nprivateKey = "{uuid.uuid4()}"\nroles = ["ORG_OWNER"]\n',
        encoding="utf-8",
    )
    return path


def _given(entry: dict[str, Any], field: str, environment: Mapping[str, str]) -> str | None:
    """A credential the seed gives in the file (``field``) or names a variable of the server's environment for
    (``field + "Env"``)."""
    if field in entry:
        return str(entry[field])
    return environment.get(str(entry.get(f"{field}Env")))


def _credentials(
    seed: Path, environment: Mapping[str, str]
) -> tuple[tuple[ServiceAccount, ...], tuple[ApiKey, ...], str | None, str | None]:
    """What a test needs from the seed. Only read here: the server checks the file, and refuses it if bad."""
    try:
        data = tomllib.loads(seed.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return (), (), None, None  # the server says what is wrong with it
    orgs: list[dict[str, Any]] = [org for org in data.get("orgs", []) if isinstance(org, dict)]
    accounts = tuple(
        ServiceAccount(
            name=str(account.get("name")),
            org_id=str(org.get("id")),
            client_id=str(account.get("clientId")),
            client_secret=next((_given(s, "secret", environment) for s in account.get("secrets", [])), None),
            roles=tuple(account.get("roles", ())),
        )
        for org in orgs
        for account in org.get("serviceAccounts", [])
    )
    keys = tuple(
        ApiKey(
            str(org.get("id")),
            str(key.get("publicKey")),
            str(_given(key, "privateKey", environment)),
            tuple(key.get("roles", ())),
        )
        for org in orgs
        for key in org.get("apiKeys", [])
    )
    org_id = str(orgs[0].get("id")) if orgs else None
    projects = orgs[0].get("projects", []) if orgs else []
    return accounts, keys, org_id, str(projects[0].get("id")) if projects else None


def _dev_ca(database_url: str, data_dir: Path) -> Path:
    from atlas_sa.kit.tls import dev_directory  # noqa: PLC0415 - HTTPS only
    from atlas_sa.settings import Settings  # noqa: PLC0415

    # Built without reading this process's environment: only where the server keeps its CA matters here.
    return dev_directory(Settings.model_construct(database_url=database_url, data_dir=data_dir)) / "ca.pem"


@contextmanager
def atlas_sa_server(
    seed: Path | str | None = None,
    *,
    https: bool = False,
    database_url: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[AtlasSA]:
    """Start ``atlas-sa serve`` with ``seed`` (default: :func:`generated_seed`) on ``127.0.0.1`` and a free port;
    yield it once it answers ``/healthz``; stop it (SIGTERM, then SIGKILL after 30 s) and remove its files.

    ``database_url``: default a new SQLite file in a temporary folder; a PostgreSQL URL names a database the caller
    owns (its development key is kept in the temporary folder). ``https``: serve with a development CA (``--tls-dev``),
    whose file is ``ca_file``. The server's environment is this process's without its ``ATLAS_SA_*`` variables (so
    that a developer's settings do not leak in), plus ``env``.
    """
    folder = Path(tempfile.mkdtemp(prefix="atlas-sa-"))
    try:
        seed_path = Path(seed) if seed is not None else generated_seed(folder / "seed.toml")
        url = database_url or f"sqlite:///{folder / 'atlas-sa.db'}"
        environment = {name: value for name, value in os.environ.items() if not name.upper().startswith("ATLAS_SA_")}
        environment |= {"ATLAS_SA_DATA_DIR": str(folder), "ATLAS_SA_LOG_FORMAT": "text", **(env or {})}
        command = [sys.executable, "-m", "atlas_sa", "serve", "--host", "127.0.0.1", "--port", "0"]
        command += ["--database-url", url, "--seed", str(seed_path), *(["--tls-dev"] if https else [])]
        log_file = folder / "server.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
                command, env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            base_url = _wait_until_serving(process, log_file, timeout)
            accounts, keys, org_id, group_id = _credentials(seed_path, environment)
            server = AtlasSA(
                base_url=base_url,
                database_url=url,
                seed=seed_path,
                log_file=log_file,
                ca_file=_dev_ca(url, folder) if https else None,
                service_accounts=accounts,
                api_keys=keys,
                org_id=org_id,
                group_id=group_id,
            )
            _wait_until_healthy(process, server, log_file, timeout)
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _said(log_file: Path) -> str:
    return log_file.read_text(encoding="utf-8", errors="replace")


def _wait_until_serving(process: subprocess.Popen[bytes], log_file: Path, timeout: float) -> str:
    """The URL of the "serving on" line, which names the port the server got for port 0."""
    deadline = time.monotonic() + timeout
    while True:
        found = _SERVING.search(_said(log_file))
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise ServerFailed(f"atlas-sa serve exited with code {process.returncode}:\n{_said(log_file)}")
        if time.monotonic() > deadline:
            raise ServerFailed(f"atlas-sa serve did not start in {timeout:g} s:\n{_said(log_file)}")
        time.sleep(0.05)


def _wait_until_healthy(process: subprocess.Popen[bytes], server: AtlasSA, log_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    context = server.ssl_context()
    last: OSError | None = None
    while True:
        try:
            with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=5, context=context) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError as exc:
            last = exc  # the listening socket is open before the application has started
        if process.poll() is not None or time.monotonic() > deadline:
            # The last failure says why: a certificate this process cannot verify looks like a silent server.
            raise ServerFailed(f"atlas-sa serve did not answer /healthz ({last}):\n{_said(log_file)}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
