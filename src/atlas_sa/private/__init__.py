"""Atlas's private endpoints that official clients call: ``/api/private/ipinfo`` and telemetry (unversioned)."""
