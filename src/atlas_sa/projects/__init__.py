"""Projects (Atlas "groups"): ``/api/atlas/v2/groups`` and ``/orgs/{orgId}/groups`` (version 2023-01-01)."""
