"""immutable tag rules

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

`immutable_tag_rule(scope, target, pattern)`: in a namespace or a repository, tags whose name
matches the glob cannot be moved or deleted once they exist. The unique key leads with the
target: a push looks up the rules of its namespace and its repository by name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "immutable_tag_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("pattern", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_immutable_tag_rule")),
        sa.UniqueConstraint(
            "target",
            "scope",
            "pattern",
            name=op.f("uq_immutable_tag_rule_target_scope_pattern"),
        ),
    )


def downgrade() -> None:
    op.drop_table("immutable_tag_rule")
