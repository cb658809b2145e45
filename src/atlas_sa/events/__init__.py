"""Atlas's Events: the audit trail of every change.

Two layers live here. ``recording``, ``catalogue`` and ``dependencies`` sit below the features (they import only
``identity``, ``kit`` and ``models``): every feature records its changes through them, as it takes its caller from
``identity``. ``endpoints``, ``service``, ``repository``, ``schemas`` and ``expiry`` are a feature like the others,
which reads the trail back and watches secret expiry.
"""
