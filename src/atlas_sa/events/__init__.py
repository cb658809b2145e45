"""Atlas's Events API: the audit trail read back (``endpoints``, ``service``, ``repository``, ``schemas``), and the
watch that reports secret expiry and purges old events (``expiry``). Events are written by :mod:`atlas_sa.audit`."""
