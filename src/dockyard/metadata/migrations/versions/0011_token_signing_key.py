"""token signing key in the database, shared by every worker and replica

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Bearer tokens issued by one replica must verify on every other, so the key that signs them
can no longer live in one replica's data folder. The first start after this revision
copies `keys/token-signing.pem` into the row (tokens issued before the upgrade stay valid);
a new registry makes a fresh key. Rows are numbered so a later rotation can add keys.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_signing_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_signing_key")),
    )


def downgrade() -> None:
    op.drop_table("token_signing_key")
