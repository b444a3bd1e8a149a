"""manifest_reference indexes that stay selective: children (partial), digest + repository

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

`manifest_reference.child_manifest_id` is NULL for every blob reference (configs, layers),
so in a registry of plain images nearly every row holds NULL. Once SQLite's `ANALYZE` has
run, its planner sees one value shared by every row, judges the index useless and scans
the table for "which indexes list these manifests?", which every manifest delete and GC
review asks: 17 ms a delete at 10,000 repositories. Partial (`WHERE child_manifest_id IS
NOT NULL`), the index holds only real children, stays small, and every query comparing the
column with a value (`=`, `IN`), the foreign key's check included, can use it.

The digest index becomes `(digest, repository_id)`: "does a manifest of this repository use
this blob?" (GC's re-check before it unlinks a blob, and the foreign key check of that
delete) probed every reference of the digest, hundreds for a shared base layer, and now
finds the answer in one probe. Lookups by digest alone use the same index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TABLE = "manifest_reference"
_CHILD = "ix_manifest_reference_child_manifest_id"
_DIGEST = "ix_manifest_reference_digest"
_DIGEST_REPOSITORY = "ix_manifest_reference_digest_repository"
_NOT_NULL = sa.text("child_manifest_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index(_CHILD, table_name=_TABLE)
    op.create_index(
        _CHILD, _TABLE, ["child_manifest_id"], sqlite_where=_NOT_NULL, postgresql_where=_NOT_NULL
    )
    op.create_index(_DIGEST_REPOSITORY, _TABLE, ["digest", "repository_id"])
    op.drop_index(_DIGEST, table_name=_TABLE)


def downgrade() -> None:
    op.create_index(_DIGEST, _TABLE, ["digest"])
    op.drop_index(_DIGEST_REPOSITORY, table_name=_TABLE)
    op.drop_index(_CHILD, table_name=_TABLE)
    op.create_index(_CHILD, _TABLE, ["child_manifest_id"])
