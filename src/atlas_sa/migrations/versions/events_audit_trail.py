"""events: the audit trail and the expiry watch's notices

Revision ID: events_audit_trail
Revises: 0004
Create Date: 2026-12-02 10:00:00

Every change is recorded as an Atlas event in the transaction that makes it (issue #13); the expiry watch remembers
what it last reported about each secret, and finds secrets by expiry (hence the new index on their expiry).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import atlas_sa.models.base

revision = "events_audit_trail"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("created_at", atlas_sa.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=24), nullable=False),
        sa.Column("group_id", sa.String(length=24), nullable=True),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("api_key_id", sa.String(length=24), nullable=True),
        sa.Column("public_key", sa.String(length=32), nullable=True),
        sa.Column("remote_address", sa.String(length=45), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_events_org_id_created_at_id", ["org_id", "created_at", "id"], unique=False)
        batch_op.create_index("ix_events_group_id_created_at_id", ["group_id", "created_at", "id"], unique=False)

    op.create_table(
        "secret_expiry_notices",
        sa.Column("secret_id", sa.String(length=24), nullable=False),
        sa.Column("org_id", sa.String(length=24), nullable=False),
        sa.Column("client_id", sa.String(length=34), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", atlas_sa.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("secret_id", name=op.f("pk_secret_expiry_notices")),
    )
    with op.batch_alter_table("secret_expiry_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_secret_expiry_notices_org_id"), ["org_id"], unique=False)

    with op.batch_alter_table("service_account_secrets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_account_secrets_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("service_account_secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_account_secrets_expires_at"))
    op.drop_table("secret_expiry_notices")
    op.drop_table("events")
