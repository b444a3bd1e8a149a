"""`gc --verify`: walk the blob store beside the database and report what disagrees —
bytes without a row, rows without bytes, bytes whose size or digest is wrong. Nothing is
changed. Both sides are read in digest order, so memory stays flat; each finding is
checked again before it is reported, since pushes and GC go on meanwhile. `dockyard doctor`
runs it too, comparing sizes only unless asked to hash (`hash_bytes`), with a sink that
keeps the findings in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from sqlalchemy import Connection

from dockyard.metadata.db import Database
from dockyard.metadata.queries import gc_review
from dockyard.registry.digests import new_hasher
from dockyard.registry.gc.report import Figures, Item
from dockyard.storage.base import BlobStore, StorageError

__all__ = ["Findings", "verify"]

_PAGE = 1000
_READ = 1024 * 1024


class Findings(Protocol):
    """Where a verification reports (a run's `RunSink`, or doctor's list)."""

    def beat(self, phase: str, figures: Figures, fraction: float | None = None) -> None: ...

    def items(self, conn: Connection | None, items: list[Item]) -> None: ...


def _rows(db: Database) -> Iterator[tuple[str, int]]:
    after = ""
    while True:
        with db.read() as conn:
            page = gc_review.blob_rows(conn, after, _PAGE)
        if not page:
            return
        yield from page
        after = page[-1][0]


def _actual_digest(store: BlobStore, digest: str, sink: Findings, figures: Figures) -> str:
    algorithm = digest.split(":", 1)[0]
    hasher = new_hasher(algorithm)
    with store.open_blob(digest) as handle:
        while chunk := handle.read(_READ):
            hasher.update(chunk)
            sink.beat("verifying", figures)
    return f"{algorithm}:{hasher.hexdigest()}"


def verify(db: Database, store: BlobStore, sink: Findings, *, hash_bytes: bool = True) -> Figures:
    figures = Figures()
    stored = store.stored_blobs()
    rows = _rows(db)
    file = next(stored, None)
    row = next(rows, None)
    while file is not None or row is not None:
        sink.beat("verifying", figures)
        items: list[Item] = []
        if file is not None and (row is None or file[0] < row[0]):
            if not _has_row(db, file[0]):
                figures.orphan_files += 1
                items.append(Item(0, "orphan", None, file[0], file[1], "bytes without a row"))
            file = next(stored, None)
        elif row is not None and (file is None or row[0] < file[0]):
            if _has_row(db, row[0]) and store.blob_size(row[0]) is None:
                figures.missing_files += 1
                items.append(Item(0, "missing", None, row[0], row[1], "row without bytes"))
            row = next(rows, None)
        elif row is not None and file is not None:
            figures.blobs_checked += 1
            note = _check(store, row[0], row[1], file[1], sink, figures, hash_bytes)
            if note is not None:
                figures.corrupt_files += 1
                items.append(Item(0, "corrupt", None, row[0], file[1], note))
            file, row = next(stored, None), next(rows, None)
        sink.items(None, items)
    return figures


def _has_row(db: Database, digest: str) -> bool:
    with db.read() as conn:
        return gc_review.blob_exists(conn, digest)


def _check(
    store: BlobStore,
    digest: str,
    size: int,
    actual_size: int,
    sink: Findings,
    figures: Figures,
    hash_bytes: bool,
) -> str | None:
    if actual_size != size:
        return f"{actual_size} bytes stored, the row says {size}"
    if not hash_bytes:
        return None
    try:
        actual = _actual_digest(store, digest, sink, figures)
    except StorageError:
        return None  # removed while we looked: not a fault
    return None if actual == digest else f"bytes hash to {actual}"
