"""the index of index children covers only the rows that name a child

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
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_INDEX = "ix_manifest_reference_child_manifest_id"
_NOT_NULL = sa.text("child_manifest_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index(_INDEX, table_name="manifest_reference")
    op.create_index(
        _INDEX,
        "manifest_reference",
        ["child_manifest_id"],
        sqlite_where=_NOT_NULL,
        postgresql_where=_NOT_NULL,
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="manifest_reference")
    op.create_index(_INDEX, "manifest_reference", ["child_manifest_id"])
