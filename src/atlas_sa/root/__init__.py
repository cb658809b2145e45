"""Atlas's root resource: ``GET /api/atlas/v2`` (getSystemStatus, resource version 2023-01-01)."""
