"""Migrations build the schema the models describe, and SCHEMA_HEAD names the newest one."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

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


def test_finding_the_indexes_that_list_a_manifest_uses_an_index_after_analyze(
    tmp_path: Path,
) -> None:
    """Blob references leave `child_manifest_id` NULL; with statistics of a registry of
    plain images, the lookup of an index's children must still use an index (0009)."""
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        db.migrate()
        with db.write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO repository (id, name, namespace, created_at, pushed_at) "
                "VALUES (1, 'a/b', 'a', 0, 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO manifest (id, repository_id, digest, media_type, payload, size, "
                "created_at) VALUES (1, 1, 'sha256:m', 'x', x'00', 1, 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO blob (digest, size, created_at) VALUES ('sha256:l', 1, 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO repository_blob (repository_id, digest, linked_at) "
                "VALUES (1, 'sha256:l', 0)"
            )
            for position in range(2000):
                conn.exec_driver_sql(
                    "INSERT INTO manifest_reference (manifest_id, position, digest, kind, size, "
                    "media_type, repository_id) VALUES (1, ?, 'sha256:l', 'layer', 1, 'x', 1)",
                    (position,),
                )
            conn.exec_driver_sql("ANALYZE")
        with db.read() as conn:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT manifest_id FROM manifest_reference "
                    "WHERE child_manifest_id IN (1, 2)"
                )
            )
        assert "USING INDEX ix_manifest_reference_child_manifest_id" in plan, plan
    finally:
        db.close()


def _migrate_when_all_are_ready(url: str, ready: Any) -> None:
    """One starter, in a process of its own (as a replica is; Alembic is not thread-safe)."""
    ready.wait(60)
    db = Database(url)
    try:
        db.migrate()
    finally:
        db.close()


def test_migrations_run_once_when_several_processes_start_together(tmp_path: Path) -> None:
    """Replicas of a new deployment all migrate at start: one does, the others wait for it
    and find the schema at head (on PostgreSQL without the lock, a second CREATE TABLE
    failed and that replica did not start)."""
    from fixtures import postgres

    if postgres.BACKEND == "postgresql":
        url = postgres.cluster().create_database(migrated=False)
    else:
        url = f"sqlite:///{tmp_path / 'm.db'}"
    starters = 4
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(starters)
    processes = [
        spawn.Process(target=_migrate_when_all_are_ready, args=(url, ready))
        for _ in range(starters)
    ]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join(120)
        assert [process.exitcode for process in processes] == [0] * starters
        db = Database(url)
        try:
            assert db.at_head()
        finally:
            db.close()
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        if postgres.BACKEND == "postgresql":
            postgres.cluster().drop_database(url)
