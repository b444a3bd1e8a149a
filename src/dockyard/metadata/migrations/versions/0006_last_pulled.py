"""last pulled: when each tag and manifest was last pulled

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

Written in batches by the server (registry.pulls), never once per pull; NULL: not pulled
since this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("manifest") as batch:
        batch.add_column(sa.Column("last_pulled_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("tag") as batch:
        batch.add_column(sa.Column("last_pulled_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tag") as batch:
        batch.drop_column("last_pulled_at")
    with op.batch_alter_table("manifest") as batch:
        batch.drop_column("last_pulled_at")
