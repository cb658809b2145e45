"""Identifiers in Atlas's shapes: 24-hex ObjectIds, ``mdb_sa_id_`` client ids."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import threading
import time

OBJECT_ID_RE = re.compile(r"^[a-f0-9]{24}$")
CLIENT_ID_PREFIX = "mdb_sa_id_"
CLIENT_ID_RE = re.compile(r"^mdb_sa_id_[a-fA-F0-9]{24}$")

# ObjectId layout: 4-byte seconds, 5 bytes random per process, 3-byte counter. The counter makes ids made in one
# second by one process distinct and ordered, so ids sort by creation, which list endpoints rely on.
_process_random = secrets.token_bytes(5)
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_lock = threading.Lock()


def new_object_id(now: float | None = None) -> str:
    seconds = int(time.time() if now is None else now) & 0xFFFFFFFF
    with _lock:
        count = next(_counter) & 0xFFFFFF
    return (seconds.to_bytes(4, "big") + _process_random + count.to_bytes(3, "big")).hex()


def is_object_id(value: str) -> bool:
    return OBJECT_ID_RE.match(value) is not None


def new_client_id(object_id: str) -> str:
    return CLIENT_ID_PREFIX + object_id


def is_client_id(value: str) -> bool:
    return CLIENT_ID_RE.match(value) is not None
