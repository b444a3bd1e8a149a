"""Migrations build the schema the models describe, and SCHEMA_HEAD names the newest one."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

import dockyard.metadata.db as db_module
from dockyard.metadata.db import SCHEMA_HEAD, Database
from dockyard.metadata.models import Base


def test_schema_head_is_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(db_module.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_migrations_create_every_table(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        assert not db.at_head()
        db.migrate()
        assert db.at_head()
        db.migrate()  # idempotent
        with db.read() as conn:
            names = {
                row[0]
                for row in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")
            }
        assert set(Base.metadata.tables) <= names
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        db.close()


def test_0004_computes_stored_bytes_of_existing_repositories(tmp_path: Path) -> None:
    """A database from before 0004 gets each repository's stored_bytes from its links."""
    from alembic import command

    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    config = Config()
    config.set_main_option("script_location", str(Path(db_module.__file__).parent / "migrations"))
    try:
        with db.writer.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            conn.exec_driver_sql(
                "INSERT INTO repository (id, name, namespace, created_at) "
                "VALUES (1, 'a/one', 'a', 0), (2, 'a/two', 'a', 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO blob (digest, size, created_at) "
                "VALUES ('sha256:aa', 100, 0), ('sha256:bb', 23, 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO repository_blob (repository_id, digest, linked_at) "
                "VALUES (1, 'sha256:aa', 0), (1, 'sha256:bb', 0)"
            )
            command.upgrade(config, "head")
            rows = conn.exec_driver_sql("SELECT name, stored_bytes FROM repository").all()
            sizes: dict[str, int] = {name: size for name, size in rows}
            conn.commit()
        assert sizes == {"a/one": 123, "a/two": 0}
    finally:
        db.close()
