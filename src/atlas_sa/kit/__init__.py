"""Written once for every route: versioning, rendering, routing, errors, pagination, storage, clock, ids."""
