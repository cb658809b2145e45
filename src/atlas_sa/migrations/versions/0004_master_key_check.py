"""master key check value

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00

The table starts empty, also in a database that already holds sealed material: the migration runs without the
master key. The first ``serve`` or writing command after it tries the key it holds on that material and records the
key's check value only when every row opens (``atlas_sa.auth.masterkey``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from atlas_sa.models.base import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "master_key_check",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("check_value", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_master_key_check")),
    )


def downgrade() -> None:
    op.drop_table("master_key_check")
