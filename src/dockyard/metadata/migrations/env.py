"""Alembic environment: migrations run on the connection Database.migrate() hands in."""

from __future__ import annotations

from alembic import context

from dockyard.metadata.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through dockyard (Database.migrate), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    # Every step in the one transaction Database.migrate opened. Alembic's default for
    # SQLite commits after each step, which let go of the write lock that makes a second
    # process starting at the same moment wait: it then read the version between two
    # steps and ran the next one too ("table … already exists").
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
