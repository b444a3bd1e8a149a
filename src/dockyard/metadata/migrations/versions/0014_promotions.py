"""promotions and their approvals

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

`promotion`: every image promoted from one environment's repository to the next, with the
gates it passed; indexed by application (the name below the environment, for the
environments board) and by either repository (for their pages). `promotion_approval`: who
approved a digest for an environment whose gate asks for an approval.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "promotion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("application", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=135), nullable=False),
        sa.Column("source_repository", sa.String(length=255), nullable=False),
        sa.Column("source_tag", sa.String(length=128), nullable=True),
        sa.Column("target_repository", sa.String(length=255), nullable=False),
        sa.Column("target_tag", sa.String(length=128), nullable=False),
        sa.Column("gates", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion")),
    )
    with op.batch_alter_table("promotion") as batch:
        batch.create_index("ix_promotion_application", ["application", "at"], unique=False)
        batch.create_index("ix_promotion_target", ["target_repository", "at"], unique=False)
        batch.create_index("ix_promotion_source", ["source_repository", "at"], unique=False)
        batch.create_index(batch.f("ix_promotion_digest"), ["digest"], unique=False)
    op.create_table(
        "promotion_approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=135), nullable=False),
        sa.Column("environment", sa.String(length=255), nullable=False),
        sa.Column("approved_by", sa.String(length=255), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_approval")),
        sa.UniqueConstraint(
            "digest",
            "environment",
            "approved_by",
            name=op.f("uq_promotion_approval_digest_environment_approved_by"),
        ),
    )


def downgrade() -> None:
    op.drop_table("promotion_approval")
    op.drop_table("promotion")
