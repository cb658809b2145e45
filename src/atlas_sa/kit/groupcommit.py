"""Group commit: writes that arrive while a batch is committing go together in the next batch, one transaction for
all of them, and each writer waits for its own batch's outcome. Under load a batch holds what arrived during one
commit; a lone write is a transaction of one. Used by the token endpoint's mints and the access-list counters of
read requests, where a commit per request (an ``fsync`` on SQLite) would cost more than the write itself.

One batch is in flight at a time per writer object, and its task lives only while there is work, so no task
outlives the requests waiting on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger("atlas_sa.kit.groupcommit")

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(slots=True)
class Pending(Generic[Item, Result]):
    item: Item
    done: asyncio.Future[Result] = field(repr=False)


class GroupCommit(Generic[Item, Result]):
    """``commit(batch)`` writes a batch in one transaction and settles each item's ``done`` (a result, or an
    exception for an item it refuses). When it raises, ``on_error`` settles the items it left unsettled; with
    ``retry_singly``, a batch of several is first retried one item at a time, so that one bad item does not fail its
    neighbours."""

    def __init__(
        self,
        commit: Callable[[list[Pending[Item, Result]]], Awaitable[None]],
        on_error: Callable[[Pending[Item, Result], Exception], None],
        *,
        name: str,
        retry_singly: bool = False,
    ) -> None:
        self._commit = commit
        self._on_error = on_error
        self._name = name
        self._retry_singly = retry_singly
        self._queue: list[Pending[Item, Result]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Queue ``item`` and wait until its batch has committed (or refused it)."""
        done: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append(Pending(item, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name=self._name)
        return await done

    async def close(self) -> None:
        """Wait for the batch in flight, if any, to settle (the app's shutdown, before its database is disposed)."""
        task = self._task
        if task is not None and not task.done():
            await task

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._commit(batch)
            except Exception as exc:  # noqa: BLE001 - settled on the waiting requests, never lost
                if not self._retry_singly or len(batch) == 1:
                    self._fail(batch, exc)
                    continue
                log.warning(
                    "%s: batch of %d failed (%s); retrying one by one", self._name, len(batch), type(exc).__name__
                )
                for one in batch:
                    try:
                        await self._commit([one])
                    except Exception as single:  # noqa: BLE001
                        self._fail([one], single)

    def _fail(self, batch: list[Pending[Item, Result]], exc: Exception) -> None:
        for pending in batch:
            if not pending.done.done():
                self._on_error(pending, exc)
