"""layer diff IDs and undoable deletes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

`image_diff_id`: each image config's `rootfs.diff_ids`, so search finds images by the
uncompressed layer digests that `docker inspect` and scanners print. Configs pushed before
this revision are read back from the blob store by `dockyard` at start (a backfill), not here:
a migration must not depend on the blob store.

`deleted_manifest`: what a console quick-delete removed, kept for its undo window.

An index on `repository.pushed_at`, for the overview's recently pushed repositories, and
`repository.stored_bytes` (the bytes of the blobs linked in it, kept by every link and unlink
from now on), computed here once, so that repositories sort by size through an index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repository", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stored_bytes", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_repository_pushed_at"), ["pushed_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_repository_stored_bytes"), ["stored_bytes"], unique=False
        )
    op.execute(
        "UPDATE repository SET stored_bytes = COALESCE((SELECT SUM(blob.size) "
        "FROM repository_blob JOIN blob ON blob.digest = repository_blob.digest "
        "WHERE repository_blob.repository_id = repository.id), 0)"
    )

    op.create_table(
        "image_diff_id",
        sa.Column("config_digest", sa.String(length=135), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("diff_id", sa.String(length=135), nullable=False),
        sa.PrimaryKeyConstraint("config_digest", "position", name=op.f("pk_image_diff_id")),
    )
    with op.batch_alter_table("image_diff_id", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_diff_id_diff_id"), ["diff_id"], unique=False)

    op.create_table(
        "deleted_manifest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=135), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("deleted_at", sa.BigInteger(), nullable=False),
        sa.Column("deleted_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repository.id"],
            name=op.f("fk_deleted_manifest_repository_id_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deleted_manifest")),
    )
    with op.batch_alter_table("deleted_manifest", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deleted_manifest_batch"), ["batch"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_deleted_manifest_repository_id"), ["repository_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_deleted_manifest_deleted_at"), ["deleted_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("repository", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repository_stored_bytes"))
        batch_op.drop_index(batch_op.f("ix_repository_pushed_at"))
        batch_op.drop_column("stored_bytes")
    op.drop_table("deleted_manifest")
    op.drop_table("image_diff_id")
