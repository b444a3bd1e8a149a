"""upstreams: registries Dockyard imports from, and the repositories that follow them

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08

`upstream_registry` is another registry (its URL, TLS choices and credentials, the password
encrypted with the secrets key, which is never in the database: registry/upstream/
credentials.py). It is shared by imports (`repository_sync`) and the pull-through cache;
removing one that is still used fails on the foreign key (ON DELETE RESTRICT).
`repository_sync` makes a local repository follow an upstream repository, on demand or
every `interval_minutes`; `next_run_at` and `last_status` are also the claim that lets one
replica at a time run it (docs/design.md, "Import and sync").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstream_registry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("password_encrypted", sa.Text(), nullable=True),
        sa.Column("verify_tls", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("ca_file", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_registry")),
        sa.UniqueConstraint("name", name=op.f("uq_upstream_registry_name")),
    )
    op.create_table(
        "repository_sync",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("upstream_id", sa.Integer(), nullable=False),
        sa.Column("upstream_repository", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False, server_default=""),
        sa.Column("interval_minutes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_run_at", sa.BigInteger(), nullable=True),
        sa.Column("last_run_at", sa.BigInteger(), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_imported", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["upstream_id"],
            ["upstream_registry.id"],
            name=op.f("fk_repository_sync_upstream_id_upstream_registry"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repository_sync")),
        sa.UniqueConstraint("repository", name=op.f("uq_repository_sync_repository")),
    )
    op.create_index(op.f("ix_repository_sync_next_run_at"), "repository_sync", ["next_run_at"])
    op.create_index(op.f("ix_repository_sync_upstream_id"), "repository_sync", ["upstream_id"])


def downgrade() -> None:
    op.drop_table("repository_sync")
    op.drop_table("upstream_registry")
