"""A real atlas-sa for test suites (``docs/ci.md``): the :func:`atlas_sa_server` context manager and, registered
as a pytest plugin (:mod:`atlas_sa.testing.plugin`), the ``atlas_sa`` fixture. The top layer of the package: it
runs the command line as a child process and imports nothing above the standard library until HTTPS asks."""

from atlas_sa.testing.server import ApiKey, AtlasSA, ServerFailed, ServiceAccount, atlas_sa_server, generated_seed

__all__ = ["ApiKey", "AtlasSA", "ServerFailed", "ServiceAccount", "atlas_sa_server", "generated_seed"]
