"""PostgreSQL: a trigram index for repository name search

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Name search finds repositories whose name *contains* the text (`LIKE '%text%'`), which a
B-tree cannot serve: on a large catalog every search read the whole table. On PostgreSQL a
GIN index of trigrams (the `pg_trgm` extension, shipped with PostgreSQL and trusted, so a
database owner may create it) answers such a LIKE from the index. Where the extension
cannot be created (a managed server that forbids it), the migration goes on without the
index and says so: search stays correct, only slower. SQLite has no such index; its scan of
names is fast at the sizes it serves.
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        _log.warning("pg_trgm not available (%s): name search will scan the table", exc.orig)
        return
    bind.exec_driver_sql(
        "CREATE INDEX ix_repository_name_trgm ON repository USING gin (name gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_repository_name_trgm")
