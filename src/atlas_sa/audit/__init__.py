"""Recording Atlas events: every feature records its changes through :mod:`atlas_sa.audit.recording`, in the unit of
work that makes them. Below the features (it imports only ``identity``, ``kit`` and ``models``), as ``identity`` is;
reading the trail back is the ``events`` feature's."""
