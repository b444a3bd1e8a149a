"""Backup and restore of a registry: a consistent snapshot of the metadata and the list of
blobs that snapshot needs, optionally with the blobs' bytes.

A backup is a directory:

    dockyard-backup.json   what it is: versions, back end, time, every blob (digest, size)
    metadata.sqlite3       SQLite: the online backup API's copy   (or)
    metadata.pgdump        PostgreSQL: pg_dump --format=custom of one exported snapshot
    blobs/<alg>/<hex>      with --with-blobs: the listed blobs' bytes

The JSON file is written last: a directory without it is not a backup. Blob bytes are
content-addressed and never change, so by default they are left to the operator's own
backup of the store; the list says exactly which ones a restore needs, and `restore`
checks them (see README, "Backup and restore", for what garbage collection means here).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dockyard.metadata.db import SCHEMA_HEAD, Database
from dockyard.metadata.snapshots import (
    SnapshotError,
    dump_file_name,
    dump_snapshot,
    holds_content,
    restore_snapshot,
    revision_number,
)
from dockyard.registry.digests import new_hasher
from dockyard.registry.errors import DigestInvalid
from dockyard.storage.base import BlobStore, StorageError

__all__ = [
    "MANIFEST_NAME",
    "BackupError",
    "BackupResult",
    "Progress",
    "RestoreResult",
    "create_backup",
    "read_manifest",
    "restore_backup",
]

MANIFEST_NAME = "dockyard-backup.json"
FORMAT = 1
_BLOBS = "blobs"
_LIST = ".blobs.tmp"  # the blob list while the backup is made
_CHUNK = 1024 * 1024
_LINK_REFUSED = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}

Progress = Callable[[str, int, int | None], None]
"""(step, done, total or None): called often during long steps."""


class BackupError(Exception):
    """What went wrong, in one line for the person."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    dest: Path
    backend: str
    schema_revision: str
    blob_count: int
    blob_bytes: int
    blobs_copied: int
    missing: list[str]  # with --with-blobs: listed blobs the store no longer had
    seconds: float


@dataclass(slots=True)
class RestoreResult:
    backend: str
    schema_revision: str  # the backup's
    migrated: bool  # migrated to SCHEMA_HEAD after restoring
    blob_count: int
    blobs_copied: int = 0
    missing: list[tuple[str, int, str]] = field(default_factory=list)  # digest, size, why
    seconds: float = 0.0


def _no_progress(_step: str, _done: int, _total: int | None) -> None:
    return None


# --- backup -------------------------------------------------------------------------------


def create_backup(
    db: Database,
    store: BlobStore,
    dest: Path,
    *,
    version: str,
    with_blobs: bool = False,
    progress: Progress = _no_progress,
) -> BackupResult:
    """Back up into `dest`, a directory made here (an existing one must be empty); removed
    again if the backup fails, so nothing half-written is left looking like a backup."""
    started = time.monotonic()
    created = _make_dest(dest)
    try:
        return _backup(db, store, dest, version, with_blobs, progress, started)
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for entry in dest.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise


def _make_dest(dest: Path) -> bool:
    if dest.exists():
        if not dest.is_dir():
            raise BackupError(f"{dest} exists and is not a directory")
        if any(dest.iterdir()):
            raise BackupError(f"{dest} is not empty: back up into a new or empty directory")
        return False
    try:
        dest.mkdir(parents=True)
    except OSError as err:
        raise BackupError(f"cannot create {dest}: {err.strerror or err}") from None
    return True


def _backup(
    db: Database,
    store: BlobStore,
    dest: Path,
    version: str,
    with_blobs: bool,
    progress: Progress,
    started: float,
) -> BackupResult:
    dump = dest / dump_file_name(db.dialect)
    listing = dest / _LIST
    count = total = 0
    created_at = datetime.now(UTC)
    try:
        with dump_snapshot(db, dump, lambda done, of: progress("metadata", done, of)) as snap:
            revision = snap.revision()
            if revision is None:
                raise BackupError("the database has no schema yet: nothing to back up")
            with listing.open("w") as out:
                for digest, size in snap.blobs():
                    out.write(f"{digest} {size}\n")
                    count += 1
                    total += size
                    if count % 1000 == 0:
                        progress("listing blobs", count, None)
    except SnapshotError as err:
        raise BackupError(str(err)) from None
    copied, missing = 0, list[str]()
    if with_blobs:
        copied, missing = _copy_out(store, listing, dest / _BLOBS, count, progress)
    _write_manifest(
        dest,
        {
            "format": FORMAT,
            "dockyard_version": version,
            "schema_revision": revision,
            "backend": db.dialect,
            "created_at": created_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "metadata_file": dump.name,
            "metadata_sha256": _sha256_file(dump),
            "metadata_bytes": dump.stat().st_size,
            "with_blobs": with_blobs,
            "blob_count": count,
            "blob_bytes": total,
            "missing_at_backup": missing,
        },
        listing,
    )
    listing.unlink()
    return BackupResult(
        dest, db.dialect, revision, count, total, copied, missing, time.monotonic() - started
    )


def _listed(listing: Path) -> Iterator[tuple[str, int]]:
    with listing.open() as lines:
        for line in lines:
            digest, size = line.split()
            yield digest, int(size)


def _copy_out(
    store: BlobStore, listing: Path, folder: Path, count: int, progress: Progress
) -> tuple[int, list[str]]:
    """Every listed blob into `folder`: a hard link where the store keeps it on the same
    filesystem (blobs never change), else a copy, fsynced."""
    copied, missing = 0, []
    folder.mkdir()
    folders: set[Path] = set()
    for number, (digest, size) in enumerate(_listed(listing), start=1):
        target = _backup_blob_path(folder, digest)
        if target.parent not in folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        try:
            _copy_blob_out(store, digest, size, target)
            copied += 1
        except _Missing:
            missing.append(digest)
        progress("copying blobs", number, count)
    for path in (*folders, folder):
        _fsync_dir(path)
    return copied, missing


class _Missing(Exception):
    pass


def _copy_blob_out(store: BlobStore, digest: str, size: int, target: Path) -> None:
    try:
        local = store.local_file(digest)
    except StorageError:
        raise _Missing from None
    if local is not None:
        path, stat = local
        if stat.st_size != size:
            raise _Missing
        try:
            os.link(path, target)
            return
        except OSError as err:
            if err.errno not in _LINK_REFUSED:
                raise BackupError(f"cannot link blob {digest}: {err.strerror}") from None
    elif store.blob_size(digest) != size:
        raise _Missing
    try:
        with store.open_blob(digest) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
    except StorageError:
        target.unlink(missing_ok=True)
        raise _Missing from None
    except OSError as err:
        raise BackupError(f"cannot copy blob {digest}: {err.strerror or err}") from None


def _write_manifest(dest: Path, header: dict[str, Any], listing: Path) -> None:
    """The JSON file, streamed (the blob list may be long), made durable, renamed into
    place last: its presence is what makes the directory a backup."""
    temporary = dest / (MANIFEST_NAME + ".tmp")
    body = json.dumps(header, indent=2)
    with temporary.open("w") as out:
        out.write(body[:-2] + ',\n  "blobs": [')
        for number, (digest, size) in enumerate(_listed(listing)):
            out.write("," if number else "")
            out.write(f'\n    {{"digest": {json.dumps(digest)}, "size": {size}}}')
        out.write("\n  ]\n}\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, dest / MANIFEST_NAME)
    _fsync_dir(dest)


def _backup_blob_path(folder: Path, digest: str) -> Path:
    algorithm, _, hexpart = digest.partition(":")
    return folder / algorithm / hexpart


# --- restore ------------------------------------------------------------------------------


def read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{src} is not a Dockyard backup (no {MANIFEST_NAME})") from None
    except (OSError, ValueError) as err:
        raise BackupError(f"cannot read {path}: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format (this Dockyard reads format {FORMAT})")
    return manifest


def restore_backup(
    src: Path,
    url: str,
    store: BlobStore,
    *,
    force: bool = False,
    progress: Progress = _no_progress,
) -> RestoreResult:
    """Restore the backup at `src` into the database at `url` and the store. Stop the
    registry first. Blobs the backup carries are copied into the store; every listed blob
    is then checked, and what is still missing is reported (the restore stands)."""
    started = time.monotonic()
    manifest = read_manifest(src)
    backend = str(manifest["backend"])
    target = "sqlite" if url.startswith("sqlite") else "postgresql"
    if backend != target:
        raise BackupError(
            f"the backup is of a {backend} database and the target is {target}: restore "
            f"into the same back end (then migrate the data with your database's tools)"
        )
    revision = str(manifest["schema_revision"])
    if revision_number(revision) > revision_number(SCHEMA_HEAD):
        raise BackupError(
            f"the backup's schema revision {revision} is newer than this Dockyard knows "
            f"({SCHEMA_HEAD}): restore it with Dockyard {manifest.get('dockyard_version')} "
            "or newer"
        )
    dump = src / str(manifest["metadata_file"])
    if not dump.is_file():
        raise BackupError(f"the backup lacks its metadata file {dump.name}")
    progress("checking the backup", 0, None)
    if _sha256_file(dump) != manifest["metadata_sha256"]:
        raise BackupError(f"{dump.name} does not match the checksum in {MANIFEST_NAME}")
    try:
        if holds_content(url) and not force:
            raise BackupError(
                "the target database is not empty (repositories, blobs or users): restore "
                "into a new database, or pass --force to replace its contents"
            )
        progress("restoring metadata", 0, None)
        restore_snapshot(dump, url, backend)
    except SnapshotError as err:
        raise BackupError(str(err)) from None
    db = Database(url)
    try:
        migrated = not db.at_head()
        if migrated:
            progress("migrating", 0, None)
            db.migrate()
    finally:
        db.close()
    blobs = [(str(b["digest"]), int(b["size"])) for b in manifest["blobs"]]
    result = RestoreResult(backend, revision, migrated, len(blobs))
    carried = src / _BLOBS
    for number, (digest, size) in enumerate(blobs, start=1):
        have = store.blob_size(digest)
        if have != size:
            copy = _backup_blob_path(carried, digest)
            why = _copy_in(store, digest, size, copy) if copy.is_file() else None
            if why is None and store.blob_size(digest) == size:
                result.blobs_copied += 1
            else:
                if why is None:
                    why = "not in the store" if have is None else f"{have} bytes stored"
                result.missing.append((digest, size, why))
        progress("checking blobs", number, len(blobs))
    result.seconds = time.monotonic() - started
    return result


def _copy_in(store: BlobStore, digest: str, size: int, source: Path) -> str | None:
    """Put one carried blob into the store through its upload API (so every driver works),
    checking its digest; returns why it could not, or None."""
    upload_id = f"restore-{secrets.token_hex(8)}"
    algorithm = digest.split(":", 1)[0]
    try:
        hasher = new_hasher(algorithm)
    except DigestInvalid:
        return f"unknown digest algorithm {algorithm}"
    try:
        store.create_upload(upload_id)
        writer = store.open_upload(upload_id)
        try:
            writer.seek(0)
            with source.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    hasher.update(chunk)
                    writer.write(chunk)
            written = writer.flush()
        finally:
            writer.close()
        actual = f"{algorithm}:{hasher.hexdigest()}"
        if actual != digest or written != size:
            store.delete_upload(upload_id)
            return f"the backup's copy is damaged ({written} bytes hashing to {actual})"
        store.commit_upload(upload_id, size, digest)
    except (StorageError, OSError) as err:
        store.delete_upload(upload_id)
        return f"cannot copy it into the store: {err}"
    return None


def _sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
