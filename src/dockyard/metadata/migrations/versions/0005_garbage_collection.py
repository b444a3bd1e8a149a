"""garbage collection: review queues, runs, job leases

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

`gc_manifest_review` and `gc_blob_review` are the queues garbage collection works from:
from now on every change that may leave something unreachable enqueues it, so a run looks
only at what changed. What became unreachable before this revision is enqueued here once:
every untagged manifest, and every blob with no link or with a link no manifest of its
repository references. Their grace period counts from the upgrade.

`gc_run` and `gc_run_item`: each run's progress, figures and what it removed.
`job_lease`: which worker or replica runs a background job.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gc_manifest_review",
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.Column("touched_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["manifest.id"],
            name=op.f("fk_gc_manifest_review_manifest_id_manifest"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("manifest_id", name=op.f("pk_gc_manifest_review")),
    )
    op.create_index("ix_gc_manifest_review_since", "gc_manifest_review", ["since", "manifest_id"])
    op.create_table(
        "gc_blob_review",
        sa.Column("digest", sa.String(length=135), nullable=False),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_gc_blob_review")),
    )
    op.create_index("ix_gc_blob_review_since", "gc_blob_review", ["since", "digest"])
    op.create_table(
        "gc_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("grace_seconds", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gc_run")),
    )
    op.create_index(op.f("ix_gc_run_status"), "gc_run", ["status"])
    op.create_index(op.f("ix_gc_run_started_at"), "gc_run", ["started_at"])
    op.create_table(
        "gc_run_item",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=True),
        sa.Column("digest", sa.String(length=255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["gc_run.id"], name=op.f("fk_gc_run_item_run_id_gc_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_gc_run_item")),
    )
    op.create_table(
        "job_lease",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_lease")),
    )

    now = int(time.time())
    op.execute(
        sa.text(
            "INSERT INTO gc_manifest_review (manifest_id, since, touched_at) "
            "SELECT m.id, :now, m.created_at FROM manifest m "
            "WHERE NOT EXISTS (SELECT 1 FROM tag t WHERE t.manifest_id = m.id)"
        ).bindparams(now=now)
    )
    op.execute(
        sa.text(
            "INSERT INTO gc_blob_review (digest, since) SELECT b.digest, :now FROM blob b "
            "WHERE NOT EXISTS (SELECT 1 FROM repository_blob l WHERE l.digest = b.digest) "
            "OR EXISTS (SELECT 1 FROM repository_blob l WHERE l.digest = b.digest "
            "AND NOT EXISTS (SELECT 1 FROM manifest_reference r "
            "WHERE r.repository_id = l.repository_id AND r.digest = l.digest))"
        ).bindparams(now=now)
    )


def downgrade() -> None:
    op.drop_table("job_lease")
    op.drop_table("gc_run_item")
    op.drop_index(op.f("ix_gc_run_started_at"), table_name="gc_run")
    op.drop_index(op.f("ix_gc_run_status"), table_name="gc_run")
    op.drop_table("gc_run")
    op.drop_index("ix_gc_blob_review_since", table_name="gc_blob_review")
    op.drop_table("gc_blob_review")
    op.drop_index("ix_gc_manifest_review_since", table_name="gc_manifest_review")
    op.drop_table("gc_manifest_review")
