"""What one instance knows of the brute-force lockouts (:mod:`atlas_sa.auth.bruteforce`), and how the instances
sharing a PostgreSQL keep each other told.

Successes are the hot path and failures are rare, so the guard asks the store only on failures. A failure takes its
three tokens in one transaction; a bucket it leaves empty becomes a :class:`Lockout` (key, level, time, refill
rate) that this instance keeps in memory and, on PostgreSQL, publishes as a change like any other
(:func:`atlas_sa.changes.lockout_key`, staged with :func:`atlas_sa.changes.stage`): the other instances, which
follow the changes (:class:`Lockouts` is a :class:`atlas_sa.changes.Follower`), hear it in milliseconds. The check
before an attempt then reads memory only. Nothing else empties a failure bucket, and a lockout ends by refilling
alone (deleting its row by hand does not end it early in memory), so the lockouts are the whole truth as long as
this instance hears every change: when its listener (re)connects, which it says with ``*`` (everything changed), it
reads the empty buckets back from the table once (:meth:`Lockouts.resynchronise`), and until that is done, or while
the listener is down or not started, the check reads the buckets from the table as it always could.

On SQLite the buckets are the one serving process's own memory (:func:`atlas_sa.auth.ratelimits.bucket_store`):
it has seen every failure, and there is nothing to tell anyone.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass

from atlas_sa import changes
from atlas_sa.auth.ratelimits import GUARD_KINDS, Policies
from atlas_sa.kit.buckets import BucketStore, SqlBuckets
from atlas_sa.kit.state import AppState

log = logging.getLogger("atlas_sa.auth.bruteforce")

# The guards' failure buckets (per kind, :data:`GUARD_KINDS`), which make the key prefixes a resynchronisation
# reads back.
_FAILURE_BUCKETS = ("pair", "address", "client")
_RESYNC_RETRY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Lockout:
    """An empty failure bucket: it held ``tokens`` (< 1) at ``at`` and refills at ``rate`` per second."""

    tokens: float
    at: float
    rate: float

    def level(self, now: float) -> float:
        # The stores' own formula (without the cap, which lies above 1), so memory and table agree to the bit.
        return self.tokens + max(0.0, now - self.at) * self.rate

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil((1 - self.level(now)) / self.rate))

    def end(self) -> float:
        """When the bucket holds one token again."""
        return self.at + (1 - self.tokens) / self.rate

    def encode(self, key: str) -> str:
        # Keys hold no spaces or commas (bucket_key hashes anything beyond a few plain characters), nor does a
        # float's repr: the change's keys are joined with commas.
        return f"{key} {self.tokens!r} {self.at!r} {self.rate!r}"

    @classmethod
    def decode(cls, text: str) -> tuple[str, Lockout]:
        key, tokens, at, rate = text.rsplit(" ", 3)
        numbers = float(tokens), float(at), float(rate)
        if not all(math.isfinite(number) for number in numbers) or numbers[2] <= 0:
            raise ValueError(text)
        return key, cls(*numbers)


class Lockouts:
    """The brute-force state one instance keeps in memory: the failure buckets that are empty (learned from its own
    failures, from other instances' changes, or read back from the store), and when it last recorded each (client,
    address) success in the store. One per app, in its :class:`~atlas_sa.auth.bruteforce.BruteForceGuard`."""

    def __init__(self, state: AppState, store: BucketStore, table: Policies) -> None:
        self._state = state
        self._policies = table
        self._locked: dict[str, Lockout] = {}
        self._recorded: dict[str, float] = {}
        # At most this many lockouts in memory. Past it, the ended ones go (looked for at most once per lockout
        # end: ``_sweep_at`` is the earliest end among those held); an active one is never forgotten, and one that
        # finds no room is not held: until it ends (``_unheld_until``), the check reads the store, which has it.
        self._max = state.settings.throttle_memory_entries
        self._sweep_at = -math.inf
        self._unheld_until = -math.inf
        # Alone with its memory buckets, an instance has seen every failure; sharing a table, it must be listening.
        self._shared = store if isinstance(store, SqlBuckets) else None
        self._complete = self._shared is None
        self._generation = 0
        self._resync: asyncio.Task[None] | None = None
        self._resync_failed_at = -math.inf
        if self._shared is not None:
            changes.follow(state.bus, self)

    # --- lockouts ----------------------------------------------------------------------------------------------

    def complete(self, now: float) -> bool:
        """Whether memory knows every lockout, so the check need not read the store."""
        if now < self._unheld_until:
            return False
        if self._shared is None:
            return True
        if not self._state.bus.connected.is_set():
            return False
        if not self._complete:
            self._start_resync()
        return self._complete

    def holds_any(self) -> bool:
        """Whether any lockout is held at all."""
        return bool(self._locked)

    def locked(self, key: str, now: float) -> Lockout | None:
        lockout = self._locked.get(key)
        if lockout is None:
            return None
        if lockout.level(now) >= 1:
            del self._locked[key]
            return None
        return lockout

    def learn(self, key: str, lockout: Lockout) -> None:
        known = self._locked.get(key)
        if known is not None and known.at > lockout.at:
            return
        if known is None and len(self._locked) >= self._max and not self._make_room(lockout.at):
            self._unheld_until = max(self._unheld_until, lockout.end())
            return
        self._locked[key] = lockout

    def _make_room(self, now: float) -> bool:
        if now >= self._sweep_at:
            for key in [key for key, held in self._locked.items() if held.level(now) >= 1]:
                del self._locked[key]
            self._sweep_at = min((held.end() for held in self._locked.values()), default=-math.inf)
        return len(self._locked) < self._max

    async def announce(self, emptied: Sequence[tuple[str, Lockout]]) -> None:
        """Learn these lockouts here and, sharing the buckets, publish them to every other instance. In a unit of
        work of their own: the failure's tokens were taken in the bucket store's transaction, on a connection no
        session sees."""
        for key, lockout in emptied:
            self.learn(key, lockout)
        if self._shared is None or not emptied:
            return
        async with self._state.db.unit_of_work() as session:
            changes.stage(session, [changes.lockout_key(lockout.encode(key)) for key, lockout in emptied])

    def invalidate(self, keys: Iterable[str]) -> None:
        """Follow the changes (:class:`atlas_sa.changes.Follower`): learn the lockouts they carry, and after
        everything changed (the listener (re)connected: changes made meanwhile are lost) read the table again."""
        for key in keys:
            if key == changes.EVERYTHING:
                self._generation += 1
                self._complete = False
                self._start_resync()
            elif key.startswith(changes.LOCKOUT):
                try:
                    bucket, lockout = Lockout.decode(key.removeprefix(changes.LOCKOUT))
                except ValueError:
                    log.warning("ignored a malformed lockout announcement")
                    continue
                self.learn(bucket, lockout)

    def _start_resync(self) -> None:
        if self._resync is not None or time.monotonic() - self._resync_failed_at < _RESYNC_RETRY_SECONDS:
            return
        self._resync = asyncio.get_running_loop().create_task(self.resynchronise(), name="atlas-sa-lockout-resync")

    async def resynchronise(self) -> None:
        """Read the empty failure buckets back from the table; memory is complete again if the listener stayed
        connected meanwhile (it was listening before the read began, so a lockout committed later is announced)."""
        assert self._shared is not None
        generation = self._generation
        table = self._policies
        by_bucket = {
            "pair": table.failures_per_pair,
            "address": table.failures_per_address,
            "client": table.failures_per_client,
        }
        prefixes = [f"bf:{kind}:{bucket}:" for kind in GUARD_KINDS for bucket in _FAILURE_BUCKETS]
        try:
            rows = await self._shared.below_one(prefixes)
        except Exception as exc:  # noqa: BLE001 - the check reads the store until a later attempt succeeds
            self._resync_failed_at = time.monotonic()
            log.warning("could not read the lockouts back (%s); checking the store meanwhile", type(exc).__name__)
            return
        finally:
            self._resync = None
        now = self._state.clock.now().timestamp()
        for key, tokens, at in rows:
            policy = by_bucket[key.split(":", 3)[2]]
            lockout = Lockout(tokens, at, policy.rate)
            if lockout.level(now) < 1:
                self.learn(key, lockout)
        if generation == self._generation:
            self._complete = True

    async def close(self) -> None:
        """Cancel a read-back in flight (the app's shutdown, before its database is disposed)."""
        task, self._resync = self._resync, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    # --- known addresses -------------------------------------------------------------------------------------

    def recorded_within(self, known_key: str, now: float, seconds: float) -> bool:
        """Whether this instance recorded this success in the store less than ``seconds`` ago."""
        at = self._recorded.get(known_key)
        return at is not None and 0 <= now - at < seconds

    def note_recorded(self, known_key: str, now: float) -> None:
        self._recorded.pop(known_key, None)
        if len(self._recorded) >= self._max:
            # Oldest first: forgetting one costs a second write, never a wrong answer (the store has it).
            for key in list(self._recorded)[: self._max // 2]:
                del self._recorded[key]
        self._recorded[known_key] = now
