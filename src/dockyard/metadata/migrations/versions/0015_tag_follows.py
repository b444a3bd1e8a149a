"""tags that follow tags

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

`tag_follow(repository, tag, source_repository, source_tag)`: the follower tag moves with
its source in the source's transaction. Looked up by source on every tag move (an index on
it) and by follower for the repository page (the unique key).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tag_follow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("source_repository", sa.String(length=255), nullable=False),
        sa.Column("source_tag", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_follow")),
        sa.UniqueConstraint("repository", "tag", name=op.f("uq_tag_follow_repository_tag")),
    )
    with op.batch_alter_table("tag_follow") as batch:
        batch.create_index("ix_tag_follow_source", ["source_repository", "source_tag"])


def downgrade() -> None:
    op.drop_table("tag_follow")
