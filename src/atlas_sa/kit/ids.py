"""Identifiers in Atlas's shapes: 24-hex ObjectIds, ``mdb_sa_id_`` client ids."""

from __future__ import annotations

import itertools
import os
import re
import threading
import time

OBJECT_ID_RE = re.compile(r"^[a-f0-9]{24}$")
CLIENT_ID_PREFIX = "mdb_sa_id_"
CLIENT_ID_RE = re.compile(r"^mdb_sa_id_[a-fA-F0-9]{24}$")

# ObjectId layout: 4-byte seconds (the caller's clock), then 5 bytes of this machine's clock in microseconds (modulo
# 2**40, about 12.7 days; strictly increasing within a process), then a 3-byte counter started at random. Ids sort by
# creation, which list endpoints, event pages and the rotation's "newest secret" rely on: within one second by the
# microseconds, across processes too. (MongoDB's layout puts 5 random bytes per process there, which orders two
# processes' ids of one second at random: a secret `atlas-sa secrets rotate` made could sort before the one the
# server made earlier in that second, and `--finish` kept the old one.) The counter keeps the ids of two processes
# distinct should they draw the same microsecond.
_MICROS = 1 << 40
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_last_micros = 0
_lock = threading.Lock()


def _new_counter() -> None:
    global _counter  # noqa: PLW0603 - a forked child counts from its own random start
    _counter = itertools.count(int.from_bytes(os.urandom(3), "big"))


os.register_at_fork(after_in_child=_new_counter)


def new_object_id(now: float | None = None) -> str:
    global _last_micros  # noqa: PLW0603 - one monotonic clock per process
    seconds = int(time.time() if now is None else now) & 0xFFFFFFFF
    with _lock:
        micros = _last_micros = max(time.time_ns() // 1000, _last_micros + 1)
        count = next(_counter) & 0xFFFFFF
    return (seconds.to_bytes(4, "big") + (micros % _MICROS).to_bytes(5, "big") + count.to_bytes(3, "big")).hex()


def is_object_id(value: str) -> bool:
    return OBJECT_ID_RE.match(value) is not None


def new_client_id(object_id: str) -> str:
    return CLIENT_ID_PREFIX + object_id


def is_client_id(value: str) -> bool:
    return CLIENT_ID_RE.match(value) is not None
