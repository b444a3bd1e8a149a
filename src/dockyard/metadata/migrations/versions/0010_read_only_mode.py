"""read-only maintenance mode: a switch every worker and replica reads through the access state

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

The switch lives on the one `access_state` row: turning it on or off bumps the access
generation in the same transaction, so every worker's access snapshot (which the permission
check reads on each request anyway) reloads and carries the mode. Columns only, added with
server defaults: portable DDL on SQLite (batch mode) and PostgreSQL alike.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_state") as batch:
        batch.add_column(
            sa.Column("read_only", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("read_only_message", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("read_only_by", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("read_only_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_state") as batch:
        batch.drop_column("read_only_at")
        batch.drop_column("read_only_by")
        batch.drop_column("read_only_message")
        batch.drop_column("read_only")
