"""project assignments indexed by (project, account)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 16:00:00

A project's list page reads its accounts' secrets by project and account-id range; with the project alone indexed,
both SQLite and PostgreSQL's generic plan walked the primary key over the whole id range, every organization's
accounts in it included. The new index also serves everything the old one (its prefix) did.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service_account_projects", schema=None) as batch_op:
        batch_op.create_index(
            "ix_service_account_projects_project_id_account", ["project_id", "service_account_id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_service_account_projects_project_id"))


def downgrade() -> None:
    with op.batch_alter_table("service_account_projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_account_projects_project_id"), ["project_id"], unique=False)
        batch_op.drop_index("ix_service_account_projects_project_id_account")
