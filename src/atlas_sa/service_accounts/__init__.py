"""Service accounts: ``/orgs/{orgId}/serviceAccounts…`` and ``/groups/{groupId}/serviceAccounts…`` (2024-08-05)."""
