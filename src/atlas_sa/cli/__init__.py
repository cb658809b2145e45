"""The ``atlas-sa`` command line. It calls services directly, never over HTTP."""
