"""Service-account IP access lists, on the organization and the project paths (resource version 2024-08-05)."""
