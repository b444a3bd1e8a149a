"""retention: policies per namespace and repository; tags they remove stay restorable

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

`retention_policy`: one policy per namespace or repository (the repository's replaces its
namespace's), its rules as columns; a protected namespace is never touched by retention.
`deleted_manifest.kept_until`: a retention removal may be restored until then (and garbage
collection keeps what it removed until then); `reason` names the policy and rule.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("keep_last", sa.Integer(), nullable=True),
        sa.Column("keep_patterns", sa.Text(), nullable=False),
        sa.Column("keep_pulled_days", sa.Integer(), nullable=True),
        sa.Column("remove_older_than_days", sa.Integer(), nullable=True),
        sa.Column("remove_untagged_after_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("last_run_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_policy")),
        sa.UniqueConstraint("scope", "target", name=op.f("uq_retention_policy_scope_target")),
    )
    with op.batch_alter_table("deleted_manifest") as batch:
        batch.add_column(sa.Column("kept_until", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("reason", sa.String(length=255), nullable=True))
        batch.create_index("ix_deleted_manifest_kept_until", ["kept_until"])


def downgrade() -> None:
    with op.batch_alter_table("deleted_manifest") as batch:
        batch.drop_index("ix_deleted_manifest_kept_until")
        batch.drop_column("reason")
        batch.drop_column("kept_until")
    op.drop_table("retention_policy")
