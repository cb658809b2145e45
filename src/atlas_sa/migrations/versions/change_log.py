"""change log: SQLite's channel from other processes to the serving one

Revision ID: change_log
Revises: events_audit_trail
Create Date: 2026-12-02 13:00:00

What each commit changed, appended in its transaction on SQLite, where no notification reaches another process
(``atlas_sa.models.changes``). Created on PostgreSQL too, so both run one schema; it stays empty there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "change_log"
down_revision = "events_audit_trail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("keys", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_log")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("change_log")
