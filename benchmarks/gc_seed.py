"""Seeding for the GC benchmark: the same content (gc_content) written straight into each
registry's storage, then the images to delete deleted through each registry's own API.

Writing the storage directly takes seconds where pushing 100,000 blobs through Dockyard's
HTTP write path would take most of an hour; the deletes go through `DELETE
/v2/<name>/manifests/<digest>`, so each registry records them the way it does for clients
(Dockyard queues the blobs for review; distribution removes the revision and tag links).

- distribution: its filesystem layout (`docker/registry/v2/blobs/sha256/<2>/<hex>/data`,
  the repository's `_layers`, `_manifests/revisions` and `_manifests/tags/<tag>/{current,
  index}` link files), manifests stored as blobs as it stores them.
- Dockyard: a freshly migrated SQLite database filled the way scale.py fills it (every
  table a push writes: blob, repository_blob, manifest, manifest_reference, image_diff_id,
  tag, tag_event; then the namespace usage counters recounted), blob files at
  `blobs/sha256/<2>/<hex>`, all dated two hours back, past the default in-flight window
  (`gc_in_flight_seconds`, one hour), like old builds.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import gc_content
from benchmarks.gc_content import Repo
from benchmarks.oci import Client, RegistryError
from benchmarks.registries import Registry
from benchmarks.seeding import parallel
from dockyard.metadata.db import Database
from dockyard.metadata.queries import usage

__all__ = ["Seeded", "delete_images", "seed_distribution", "seed_dockyard"]

_AGE_S = 2 * 3600
_Row = tuple[object, ...]
_BATCH = 20_000


@dataclass(slots=True)
class Seeded:
    """What was written: every blob digest, the ones only deleted images use, their sizes."""

    seconds: float = 0.0
    sizes: dict[str, int] = field(default_factory=dict)
    kept: set[str] = field(default_factory=set)
    deletes: list[tuple[str, str]] = field(default_factory=list)  # (repository, digest)

    @property
    def garbage(self) -> set[str]:
        return set(self.sizes) - self.kept

    def add(self, repo: Repo) -> None:
        for digest, blob in repo.blobs.items():
            self.sizes[digest] = len(blob.data)
        self.kept |= repo.kept
        self.deletes += [(repo.name, repo.images[k].digest) for k in repo.deleted]


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except FileNotFoundError:
        path.parent.mkdir(parents=True)
        path.write_bytes(data)


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


# -- distribution ------------------------------------------------------------------------


def _link(path: Path, digest: str) -> None:
    _write(path / "link", digest.encode())


def seed_distribution(data_dir: Path, count: int) -> Seeded:
    started = time.monotonic()
    root = data_dir / "docker" / "registry" / "v2"
    written: set[str] = set()
    seeded = Seeded()

    def blob(digest: str, data: bytes) -> None:
        if digest not in written:
            _write(root / "blobs" / "sha256" / _hex(digest)[:2] / _hex(digest) / "data", data)
            written.add(digest)

    for repo in gc_content.repositories(count):
        seeded.add(repo)
        base = root / "repositories" / repo.name
        for digest, b in repo.blobs.items():
            blob(digest, b.data)
            _link(base / "_layers" / "sha256" / _hex(digest), digest)
        for image in repo.images:
            blob(image.digest, image.manifest)
            _link(base / "_manifests" / "revisions" / "sha256" / _hex(image.digest), image.digest)
            tag = base / "_manifests" / "tags" / image.tag
            _link(tag / "current", image.digest)
            _link(tag / "index" / "sha256" / _hex(image.digest), image.digest)
    seeded.seconds = time.monotonic() - started
    return seeded


# -- Dockyard ----------------------------------------------------------------------------


def _rows(count: int, seeded: Seeded, blobs_dir: Path, at: int) -> Iterator[tuple[str, _Row]]:
    """(table, row) for every row a push of this content writes, blob files on the way."""
    manifest_id = 0
    written: set[str] = set()
    for repo in gc_content.repositories(count):
        seeded.add(repo)
        repo_id = repo.index + 1
        namespace = repo.name.split("/", 1)[0]
        stored = sum(len(b.data) for b in repo.blobs.values())
        yield "repository", (repo_id, repo.name, namespace, at, at, stored)
        for digest, b in repo.blobs.items():
            if digest not in written:
                _write(blobs_dir / "sha256" / _hex(digest)[:2] / _hex(digest), b.data)
                written.add(digest)
                yield "blob", (digest, len(b.data), at)
            yield "repository_blob", (repo_id, digest, at)
        for image in repo.images:
            manifest_id += 1
            payload = image.manifest
            yield "manifest", (manifest_id, repo_id, image.digest, gc_content.MANIFEST_TYPE,
                               payload, len(payload), image.config.digest, at)  # fmt: skip
            for position, (kind, b) in enumerate(
                [("config", image.config), *(("layer", layer) for layer in image.layers)]
            ):
                yield "manifest_reference", (manifest_id, position, b.digest, kind,
                                             len(b.data), b.media_type, repo_id)  # fmt: skip
            for position, diff_id in enumerate(image.diff_ids):
                yield "image_diff_id", (image.config.digest, position, diff_id)
            yield "tag", (repo_id, image.tag, manifest_id, at)
            yield "tag_event", (repo_id, image.tag, image.digest, at)


_SQL = {
    "repository": "INSERT INTO repository (id, name, namespace, created_at, pushed_at, "
    "stored_bytes) VALUES (?, ?, ?, ?, ?, ?)",
    "blob": "INSERT INTO blob (digest, size, created_at) VALUES (?, ?, ?)",
    "repository_blob": "INSERT INTO repository_blob (repository_id, digest, linked_at) "
    "VALUES (?, ?, ?)",
    "manifest": "INSERT INTO manifest (id, repository_id, digest, media_type, payload, size, "
    "config_digest, created_at, pushed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'admin')",
    "manifest_reference": "INSERT INTO manifest_reference (manifest_id, position, digest, "
    "kind, size, media_type, repository_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "image_diff_id": "INSERT OR IGNORE INTO image_diff_id (config_digest, position, diff_id) "
    "VALUES (?, ?, ?)",
    "tag": "INSERT INTO tag (repository_id, name, manifest_id, updated_at, immutable) "
    "VALUES (?, ?, ?, ?, 0)",
    "tag_event": "INSERT INTO tag_event (repository_id, tag, digest, action, actor, at) "
    "VALUES (?, ?, ?, 'push', 'admin', ?)",
}
# Parents before children, for the foreign keys.
_ORDER = tuple(_SQL)


def seed_dockyard(data_dir: Path, count: int) -> Seeded:
    started = time.monotonic()
    db_path = data_dir / "dockyard.db"
    db = Database(f"sqlite:///{db_path}")
    db.migrate()
    db.close()
    at = int(time.time()) - _AGE_S
    seeded = Seeded()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA synchronous=OFF")
    pending: dict[str, list[_Row]] = {table: [] for table in _ORDER}

    def flush() -> None:
        with conn:
            for table in _ORDER:
                if pending[table]:
                    conn.executemany(_SQL[table], pending[table])
                    pending[table].clear()

    with conn:
        conn.executemany(
            "INSERT INTO namespace (name, policy, created_at) VALUES (?, 'private', ?)",
            [(f"gc{n}", at) for n in range(10)],
        )
    waiting = 0
    for table, row in _rows(count, seeded, data_dir / "blobs", at):
        pending[table].append(row)
        waiting += 1
        if waiting >= _BATCH:
            flush()
            waiting = 0
    flush()
    with conn:
        conn.execute("UPDATE access_state SET generation = generation + 1")
    conn.close()
    db = Database(f"sqlite:///{db_path}")
    with db.write() as counted:
        usage.recount(counted)  # the namespace usage counters a push keeps
    db.close()
    conn = sqlite3.connect(db_path)
    conn.execute("ANALYZE")
    conn.close()
    seeded.seconds = time.monotonic() - started
    return seeded


# -- deletes -----------------------------------------------------------------------------


def delete_images(
    registry: Registry, deletes: Sequence[tuple[str, str]], workers: int, limit_s: float
) -> float:
    """`DELETE /v2/<name>/manifests/<digest>` for each; returns the seconds it took."""
    started = time.monotonic()

    def one(client: Client, i: int) -> None:
        name, digest = deletes[i]
        resp = client.request("DELETE", f"/v2/{name}/manifests/{digest}")
        if resp.status != 202:
            raise RegistryError(f"DELETE {name}@{digest}: HTTP {resp.status} {resp.body[:200]!r}")

    def names(batch: Sequence[int]) -> list[str]:
        return sorted({deletes[i][0] for i in batch})

    parallel(registry, range(len(deletes)), one, names, workers, started + limit_s)
    return time.monotonic() - started


def sync() -> None:
    """Flush the seeded files, so the GC being timed does not pay for their writeback."""
    os.sync()
