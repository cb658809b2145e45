"""The pytest plugin of :mod:`atlas_sa.testing`, loaded wherever atlas-sa is installed (the ``pytest11`` entry point;
``-p atlas_sa.testing.plugin`` where plugin autoloading is off).

- ``atlas_sa``: one server for the session (:class:`~atlas_sa.testing.AtlasSA`: ``base_url``, ``token()``, the
  seed's accounts and keys), started on first use; tests that only declare other fixtures start nothing.
- ``atlas_sa_seed``: the seed it applies; the ``atlas_sa_seed`` ini option (a path from the rootdir), else fresh
  random credentials. Override the fixture for anything else.
- ini ``atlas_sa_https = true``: serve HTTPS with a development CA (``atlas_sa.ca_file``).

A test needing a server of its own (a state no other test may see) uses the context manager instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_sa.testing.server import AtlasSA, atlas_sa_server


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("atlas_sa_seed", "seed file (TOML) of the atlas_sa fixture, from the rootdir; default: generated")
    parser.addini(
        "atlas_sa_https", "serve the atlas_sa fixture over HTTPS (development CA)", type="bool", default=False
    )


@pytest.fixture(scope="session")
def atlas_sa_seed(pytestconfig: pytest.Config) -> Path | None:
    """The seed of the ``atlas_sa`` fixture; ``None``: fresh random credentials."""
    value = pytestconfig.getini("atlas_sa_seed")
    return pytestconfig.rootpath / str(value) if value else None


@pytest.fixture(scope="session")
def atlas_sa(atlas_sa_seed: Path | None, pytestconfig: pytest.Config) -> Iterator[AtlasSA]:
    """A running atlas-sa with ``atlas_sa_seed`` applied, for the whole session."""
    with atlas_sa_server(atlas_sa_seed, https=bool(pytestconfig.getini("atlas_sa_https"))) as server:
        yield server
