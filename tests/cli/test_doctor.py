"""`dockyard doctor` on real registries of the suite's back end (DOCKYARD_TEST_DATABASE):
healthy says so and exits 0; a blob deleted behind its back, an unreachable database and a
schema behind this version are each named, with the exit status a script can act on."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config

import dockyard.metadata.db as db_module
from dockyard.metadata.db import SCHEMA_HEAD, Database
from fixtures import postgres
from fixtures.deletes import Pusher, blob_file
from fixtures.local_cli import run_local
from fixtures.servers import DockyardServer, free_port
from fixtures.v2api import V2, sha256

_SETTINGS = {"DOCKYARD_GC_INTERVAL_MINUTES": "0"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DockyardServer]:
    started = DockyardServer.create(tmp_path / "registry", extra_env=_SETTINGS)
    started.start()
    try:
        yield started
    finally:
        started.stop()
        started.drop_database()


def _doctor(server: DockyardServer, *args: str, expect: int = 0) -> str:
    result = run_local(
        "doctor", *args, data_dir=server.data_dir, database_url=server.database_url,
        expect=expect,
    )  # fmt: skip
    return result.stdout


def _line(output: str, name: str) -> str:
    found = [line for line in output.splitlines() if line[6:].startswith(name + " ")]
    assert len(found) == 1, output
    return found[0]


def test_a_healthy_registry_passes_every_check(server: DockyardServer) -> None:
    with httpx.Client(base_url=server.url, auth=(server.username, server.password)) as http:
        Pusher(V2(http)).image("doctor/app", [os.urandom(1000)], tags=("v1",))
    out = _doctor(server)
    for name in ("settings", "database", "schema", "store writable", "store consistency",
                 "upload sessions", "read-only mode", "free space"):  # fmt: skip
        assert _line(out, name).startswith("ok    "), out
    assert "2 blobs match the database" in _line(out, "store consistency")
    assert f"at revision {SCHEMA_HEAD}" in _line(out, "schema")
    assert out.splitlines()[-1] == "Verdict: healthy."
    assert not list((server.data_dir / "uploads").iterdir()), "the probe upload is removed"
    answer = json.loads(_doctor(server, "--json", "--deep"))
    assert answer["healthy"] is True
    assert "sizes and digests" in next(
        c["detail"] for c in answer["checks"] if c["name"] == "store consistency"
    )


def test_a_blob_deleted_behind_its_back_fails_by_name(server: DockyardServer) -> None:
    layer = os.urandom(1500)
    with httpx.Client(base_url=server.url, auth=(server.username, server.password)) as http:
        Pusher(V2(http)).image("doctor/lost", [layer], tags=("v1",))
    blob_file(server.data_dir, sha256(layer)).unlink()
    out = _doctor(server, expect=1)
    line = _line(out, "store consistency")
    assert line.startswith("FAIL  ")
    assert f"1 blobs in the database are missing from the store: {sha256(layer)}" in line
    assert out.splitlines()[-1] == "Verdict: NOT healthy: 1 failed (store consistency)."
    answer = json.loads(_doctor(server, "--json", expect=1))
    assert answer["healthy"] is False


def test_a_stray_file_in_the_store_is_a_warning(server: DockyardServer) -> None:
    stray = b"bytes nobody pushed"
    path = blob_file(server.data_dir, sha256(stray))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(stray)
    out = _doctor(server)
    assert _line(out, "store consistency").startswith("warn  ")
    assert sha256(stray) in _line(out, "store consistency")
    assert out.splitlines()[-1].startswith("Verdict: healthy, with 1 warnings")


def test_an_unreachable_database_fails_with_a_readable_reason(tmp_path: Path) -> None:
    nowhere = f"postgresql://dockyard@127.0.0.1:{free_port()}/nowhere"
    (tmp_path / "data").mkdir()
    result = run_local("doctor", data_dir=tmp_path / "data", database_url=nowhere, expect=1)
    line = _line(result.stdout, "database")
    assert line.startswith("FAIL  ")
    assert "cannot reach 127.0.0.1:" in line
    assert "Connection refused" in line or "connection" in line
    assert _line(result.stdout, "store consistency").startswith("warn  ")
    assert "skipped: the database is unreachable" in result.stdout
    missing = run_local(
        "doctor", data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path}/none.db",
        expect=1,
    )  # fmt: skip
    assert "no SQLite database at" in _line(missing.stdout, "database")
    assert not (tmp_path / "none.db").exists(), "doctor must not create the database"


@pytest.fixture
def behind(tmp_path: Path) -> Iterator[str]:
    """A database at the revision before SCHEMA_HEAD, on the suite's back end."""
    if postgres.BACKEND == "postgresql":
        url = postgres.cluster().create_database(migrated=False)
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    database = Database(url)
    config = Config()
    config.set_main_option("script_location", str(Path(db_module.__file__).parent / "migrations"))
    with database.writer.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, f"{int(SCHEMA_HEAD) - 1:04d}")
        conn.commit()
    database.close()
    try:
        yield url
    finally:
        if postgres.BACKEND == "postgresql":
            postgres.cluster().drop_database(url)


def test_pending_migrations_are_named(tmp_path: Path, behind: str) -> None:
    (tmp_path / "data").mkdir()
    result = run_local("doctor", data_dir=tmp_path / "data", database_url=behind)
    line = _line(result.stdout, "schema")
    assert line.startswith("warn  ")
    assert f"pending migrations {SCHEMA_HEAD}" in line
    assert "skipped: the schema is not at this version's revision" in result.stdout
