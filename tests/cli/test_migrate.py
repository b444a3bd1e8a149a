"""`dockyard migrate`: the schema migration on its own, as a Kubernetes Job runs it before
the replicas start (deploy/helm/dockyard)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dockyard.metadata.db import SCHEMA_HEAD, Database


def _migrate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    return subprocess.run(
        [sys.executable, "-m", "dockyard", "migrate", *args],
        env={**clean, **(env or {})}, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_migrates_once_then_finds_the_schema_at_head(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = _migrate("--data-dir", str(data))
    assert first.returncode == 0, first.stderr
    assert f"Migrated the schema to revision {SCHEMA_HEAD}." in first.stderr
    db = Database(f"sqlite:///{data / 'dockyard.db'}")
    try:
        assert db.at_head()
    finally:
        db.close()
    again = _migrate("--data-dir", str(data))
    assert again.returncode == 0, again.stderr
    assert f"The schema is at revision {SCHEMA_HEAD} already." in again.stderr


def test_database_url_comes_from_env(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    proc = _migrate("--data-dir", str(tmp_path / "unused"), env={"DOCKYARD_DATABASE_URL": url})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "elsewhere.db").exists()
    assert not (tmp_path / "unused").exists()


def test_invalid_settings_are_named_without_their_values(tmp_path: Path) -> None:
    proc = _migrate("--data-dir", str(tmp_path), env={"DOCKYARD_PORT": "s3cr3t-value"})
    assert proc.returncode == 1
    assert "invalid settings: port:" in proc.stderr
    assert "s3cr3t-value" not in proc.stderr
