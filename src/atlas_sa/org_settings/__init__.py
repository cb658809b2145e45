"""Organization settings: ``/api/atlas/v2/orgs/{orgId}/settings`` (resource version 2023-01-01)."""
