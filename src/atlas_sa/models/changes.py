"""The change log: on SQLite, what each commit changed, for the serving process to drop from its caches when the
commit was made by another process (the operator's CLI, ``seed apply``, ``reset``).

PostgreSQL tells running servers with ``pg_notify`` and leaves this table empty. On SQLite nothing can be pushed to
another process, so :mod:`atlas_sa.changes` appends a commit's keys here in the same transaction (a rolled-back
change appends nothing), and the serving process's bus (:mod:`atlas_sa.kit.events`, which reads it by name) polls
for rows past the last it saw. ``AUTOINCREMENT``: an id is never reused, even after the newest rows are deleted, so
a reader that finds its next id missing knows rows it did not read were pruned.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from atlas_sa.models.base import Base


class ChangeLogEntry(Base):
    __tablename__ = "change_log"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's declarative form

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The connection pool that committed it (kit/events.py's ``origin``): its own process has applied it already.
    origin: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(String(32))
    # Comma-separated, as in a notification's payload; no length limit, unlike pg_notify's.
    keys: Mapped[str] = mapped_column(Text)
