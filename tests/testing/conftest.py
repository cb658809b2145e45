"""Fixtures of the ``atlas_sa.testing`` tests: a PostgreSQL database of their own, as the command-line tests'."""

from tests.cli.conftest import own_postgres

__all__ = ["own_postgres"]
