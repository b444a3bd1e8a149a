"""Migration 0008 computes each namespace's usage from the links already there."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import dockyard.metadata.db as db_module
from dockyard.metadata.db import Database


def test_0008_counts_existing_links_once_per_namespace(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    config = Config()
    config.set_main_option("script_location", str(Path(db_module.__file__).parent / "migrations"))
    try:
        with db.writer.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0007")
            conn.exec_driver_sql(
                "INSERT INTO namespace (id, name, policy, created_at) VALUES (7, 'a', 'private', 0)"
            )
            conn.exec_driver_sql(  # namespace b has no row yet: the migration makes it
                "INSERT INTO repository (id, name, namespace, created_at) "
                "VALUES (1, 'a/one', 'a', 0), (2, 'a/two', 'a', 0), (3, 'b/x', 'b', 5)"
            )
            conn.exec_driver_sql(
                "INSERT INTO blob (digest, size, created_at) "
                "VALUES ('sha256:aa', 100, 0), ('sha256:bb', 23, 0), ('sha256:cc', 4, 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO repository_blob (repository_id, digest, linked_at) VALUES "
                "(1, 'sha256:aa', 0), (1, 'sha256:bb', 0), (2, 'sha256:aa', 0), "
                "(3, 'sha256:aa', 0), (3, 'sha256:cc', 0)"
            )
            command.upgrade(config, "head")
            rows = conn.exec_driver_sql("SELECT name, stored_bytes FROM namespace").all()
            used: dict[str, int] = {name: size for name, size in rows}
            counts = set(
                conn.exec_driver_sql(
                    "SELECT n.name, nb.digest, nb.links FROM namespace_blob nb "
                    "JOIN namespace n ON n.id = nb.namespace_id"
                ).all()
            )
            quotas = conn.exec_driver_sql("SELECT quota_bytes FROM namespace").scalars().all()
            conn.commit()
        assert used == {"a": 123, "b": 104}
        assert counts == {
            ("a", "sha256:aa", 2), ("a", "sha256:bb", 1), ("b", "sha256:aa", 1),
            ("b", "sha256:cc", 1),
        }  # fmt: skip
        assert quotas == [None, None]
    finally:
        db.close()
