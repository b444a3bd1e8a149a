"""storage quotas: usage per namespace, kept as links come and go, and a quota per namespace

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08

`namespace_blob(namespace_id, digest, links)`: how many repositories of the namespace link
the blob. A row appears with the namespace's first link to the blob and goes with its last,
and `namespace.stored_bytes` (the bytes of the blobs linked anywhere in it, each once) moves
exactly then, so the quota check on the push path reads two rows instead of summing the
namespace's blobs. Both are derived from `repository_blob` and computed here once.

`namespace.quota_bytes` (NULL: no quota) with who set it and when, for the refusal message.
An index on `repository(namespace, stored_bytes)` lists a namespace's largest repositories.
Namespaces that only existed as the first component of repository names get their row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("namespace") as batch:
        batch.add_column(
            sa.Column("stored_bytes", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("quota_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("quota_set_by", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("quota_set_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "namespace_blob",
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=135), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespace.id"],
            name=op.f("fk_namespace_blob_namespace_id_namespace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", "digest", name=op.f("pk_namespace_blob")),
    )
    with op.batch_alter_table("namespace_blob") as batch:
        batch.create_index(batch.f("ix_namespace_blob_digest"), ["digest"], unique=False)
    with op.batch_alter_table("repository") as batch:
        batch.create_index(
            "ix_repository_namespace_stored_bytes", ["namespace", "stored_bytes"], unique=False
        )

    op.execute(
        "INSERT INTO namespace (name, policy, created_at) "
        "SELECT repository.namespace, 'private', MIN(repository.created_at) "
        "FROM repository WHERE NOT EXISTS "
        "(SELECT 1 FROM namespace WHERE namespace.name = repository.namespace) "
        "GROUP BY repository.namespace"
    )
    op.execute(
        "INSERT INTO namespace_blob (namespace_id, digest, links) "
        "SELECT namespace.id, repository_blob.digest, COUNT(*) "
        "FROM repository_blob "
        "JOIN repository ON repository.id = repository_blob.repository_id "
        "JOIN namespace ON namespace.name = repository.namespace "
        "GROUP BY namespace.id, repository_blob.digest"
    )
    op.execute(
        "UPDATE namespace SET stored_bytes = COALESCE((SELECT SUM(blob.size) "
        "FROM namespace_blob JOIN blob ON blob.digest = namespace_blob.digest "
        "WHERE namespace_blob.namespace_id = namespace.id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("repository") as batch:
        batch.drop_index("ix_repository_namespace_stored_bytes")
    with op.batch_alter_table("namespace_blob") as batch:
        batch.drop_index(batch.f("ix_namespace_blob_digest"))
    op.drop_table("namespace_blob")
    with op.batch_alter_table("namespace") as batch:
        batch.drop_column("quota_set_at")
        batch.drop_column("quota_set_by")
        batch.drop_column("quota_bytes")
        batch.drop_column("stored_bytes")
