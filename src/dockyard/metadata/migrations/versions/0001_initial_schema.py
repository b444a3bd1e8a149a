"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)

    op.create_table(
        "blob",
        sa.Column("digest", sa.String(length=135), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_blob")),
    )
    op.create_table(
        "repository",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("pushed_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repository")),
        sa.UniqueConstraint("name", name=op.f("uq_repository_name")),
    )
    with op.batch_alter_table("repository", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repository_namespace"), ["namespace"], unique=False)

    op.create_table(
        "upload",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("started_by", sa.String(length=255), nullable=True),
        sa.Column("driver_state", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload")),
    )
    with op.batch_alter_table("upload", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_upload_repository"), ["repository"], unique=False)
        batch_op.create_index(batch_op.f("ix_upload_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("source", "name", name=op.f("uq_user_source_name")),
    )
    op.create_table(
        "manifest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=135), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("artifact_type", sa.String(length=255), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("config_digest", sa.String(length=135), nullable=True),
        sa.Column("subject_digest", sa.String(length=135), nullable=True),
        sa.Column("annotations", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("pushed_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repository.id"],
            name=op.f("fk_manifest_repository_id_repository"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manifest")),
        sa.UniqueConstraint(
            "repository_id", "digest", name=op.f("uq_manifest_repository_id_digest")
        ),
    )
    with op.batch_alter_table("manifest", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_manifest_config_digest"), ["config_digest"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_manifest_digest"), ["digest"], unique=False)
        batch_op.create_index(
            "ix_manifest_repository_subject", ["repository_id", "subject_digest"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_manifest_subject_digest"), ["subject_digest"], unique=False
        )

    op.create_table(
        "repository_blob",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=135), nullable=False),
        sa.Column("linked_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest"],
            ["blob.digest"],
            name=op.f("fk_repository_blob_digest_blob"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repository.id"],
            name=op.f("fk_repository_blob_repository_id_repository"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("repository_id", "digest", name=op.f("pk_repository_blob")),
    )
    with op.batch_alter_table("repository_blob", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repository_blob_digest"), ["digest"], unique=False)

    op.create_table(
        "tag_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=135), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repository.id"],
            name=op.f("fk_tag_event_repository_id_repository"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_event")),
    )
    with op.batch_alter_table("tag_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tag_event_repository_tag", ["repository_id", "tag", "at"], unique=False
        )

    op.create_table(
        "manifest_reference",
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=135), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=True),
        sa.Column("child_manifest_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["child_manifest_id"],
            ["manifest.id"],
            name=op.f("fk_manifest_reference_child_manifest_id_manifest"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["manifest.id"],
            name=op.f("fk_manifest_reference_manifest_id_manifest"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id", "digest"],
            ["repository_blob.repository_id", "repository_blob.digest"],
            name="fk_manifest_reference_repository_blob",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("manifest_id", "position", name=op.f("pk_manifest_reference")),
    )
    with op.batch_alter_table("manifest_reference", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_manifest_reference_child_manifest_id"),
            ["child_manifest_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_manifest_reference_digest"), ["digest"], unique=False)

    op.create_table(
        "tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("immutable", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["manifest.id"],
            name=op.f("fk_tag_manifest_id_manifest"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repository.id"],
            name=op.f("fk_tag_repository_id_repository"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag")),
        sa.UniqueConstraint("repository_id", "name", name=op.f("uq_tag_repository_id_name")),
    )
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tag_manifest_id"), ["manifest_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tag_manifest_id"))

    op.drop_table("tag")
    with op.batch_alter_table("manifest_reference", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manifest_reference_digest"))
        batch_op.drop_index(batch_op.f("ix_manifest_reference_child_manifest_id"))

    op.drop_table("manifest_reference")
    with op.batch_alter_table("tag_event", schema=None) as batch_op:
        batch_op.drop_index("ix_tag_event_repository_tag")

    op.drop_table("tag_event")
    with op.batch_alter_table("repository_blob", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repository_blob_digest"))

    op.drop_table("repository_blob")
    with op.batch_alter_table("manifest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manifest_subject_digest"))
        batch_op.drop_index("ix_manifest_repository_subject")
        batch_op.drop_index(batch_op.f("ix_manifest_digest"))
        batch_op.drop_index(batch_op.f("ix_manifest_config_digest"))

    op.drop_table("manifest")
    op.drop_table("user")
    with op.batch_alter_table("upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upload_updated_at"))
        batch_op.drop_index(batch_op.f("ix_upload_repository"))

    op.drop_table("upload")
    with op.batch_alter_table("repository", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repository_namespace"))

    op.drop_table("repository")
    op.drop_table("blob")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))
        batch_op.drop_index(batch_op.f("ix_audit_event_action"))

    op.drop_table("audit_event")
