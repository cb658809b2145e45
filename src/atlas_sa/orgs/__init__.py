"""Organizations: ``/api/atlas/v2/orgs`` (resource version 2023-01-01)."""
