"""The real run: works the review queues off in short write transactions of at most
`BATCH` candidates, each followed by a pause as long as it took, so pushes and pulls go on
between them (DESIGN "Cleanup").

Order: hidden bytes left by a stopped run are settled first; then manifests (in passes,
because removing an index or a subject releases manifests reviewed earlier in the pass),
then blobs (their links, then the blob with its last link), then expired uploads. Each
delete re-checks its condition in SQL; bytes are hidden inside the transaction that
deletes their row and dropped only after it commits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from dockyard.metadata.db import Database
from dockyard.metadata.locks import lock_digests
from dockyard.metadata.queries import deletes, gc_queue, gc_review, uploads
from dockyard.metadata.queries._batching import chunks
from dockyard.metadata.queries.gc_review import ManifestFacts
from dockyard.registry.gc.report import Figures, Item
from dockyard.registry.gc.rules import Cutoffs, Verdict, manifest_verdict, parents_first
from dockyard.registry.gc.sink import RunSink
from dockyard.storage.base import BlobStore, UploadBusy

__all__ = ["BATCH", "collect"]

BATCH = 500
_MAX_PAUSE_S = 0.5


@contextmanager
def _paced() -> Iterator[None]:
    """After a write batch, pause as long as it took: a run then takes at most half of the
    write lock and of the process's CPU (the GIL it shares with request threads), so pushes
    keep going while it runs; measured in benchmarks/gc.py (docs/benchmarks-gc.md)."""
    started = time.monotonic()
    yield
    time.sleep(min(time.monotonic() - started, _MAX_PAUSE_S))


def collect(db: Database, store: BlobStore, cut: Cutoffs, sink: RunSink) -> Figures:
    figures = Figures()
    _settle_hidden(db, store, figures, sink)
    if cut.untagged:
        while _manifest_pass(db, cut, figures, sink):
            pass
    _blobs(db, store, cut, figures, sink)
    _uploads(db, store, cut, figures, sink)
    return figures


def _settle_hidden(db: Database, store: BlobStore, figures: Figures, sink: RunSink) -> None:
    """Bytes a stopped run hid: back if their row is still there, else gone for good."""
    sink.beat("recovering", figures)
    for chunk in chunks(list(store.hidden_blobs()), 100):
        with db.write() as conn:
            lock_digests(conn, chunk)
            kept = [digest for digest in chunk if gc_review.blob_exists(conn, digest)]
            for digest in kept:
                store.restore_blob(digest)
        figures.bytes_freed += store.drop_hidden([d for d in chunk if d not in kept])


# -- manifests ---------------------------------------------------------------------------


def _doomed(facts: dict[int, ManifestFacts], cut: Cutoffs) -> dict[int, ManifestFacts]:
    """The batch's manifests that go: to a fixpoint, as one may release another."""
    doomed: dict[int, ManifestFacts] = {}
    changed = True
    while changed:
        changed = False
        for manifest_id, f in facts.items():
            if manifest_id in doomed or f.since is None or f.touched_at is None:
                continue
            if manifest_verdict(f, f.since, f.touched_at, doomed, cut) is Verdict.REMOVE:
                doomed[manifest_id] = f
                changed = True
    return doomed


def _manifest_pass(db: Database, cut: Cutoffs, figures: Figures, sink: RunSink) -> int:
    """One pass over the eligible manifest queue; returns how many manifests went."""
    removed = 0
    after: tuple[int, int] | None = None
    while True:
        sink.beat("manifests", figures)
        with _paced(), db.write() as conn:
            batch = gc_review.manifest_queue(conn, cut.unreachable_by, after, BATCH)
            if not batch:
                return removed
            after = batch[-1]
            facts = gc_review.manifest_facts(
                conn, [i for _, i in batch], cut.undo_after, cut.now, True
            )
            doomed = _doomed(facts, cut)
            gone = [doomed[i] for i in parents_first(doomed)]
            gone = [f for f in gone if _remove_manifest(conn, f, cut)]
            reachable: list[int] = []
            for manifest_id, f in facts.items():
                if manifest_id in doomed or f.since is None or f.touched_at is None:
                    continue
                verdict = manifest_verdict(f, f.since, f.touched_at, doomed, cut)
                if verdict is Verdict.REACHABLE:
                    reachable.append(manifest_id)
                elif f.touched_at > cut.touched_by:
                    figures.kept_recent += 1
            gc_review.drop_manifest_reviews(conn, reachable)
            sink.items(
                conn, [Item(0, "manifest", f.repository, f.digest, f.size, None) for f in gone]
            )
        figures.manifests_examined += len(facts)
        figures.manifests_removed += len(gone)
        removed += len(gone)


def _remove_manifest(conn: Connection, f: ManifestFacts, cut: Cutoffs) -> bool:
    """Delete one manifest in a savepoint, queueing what it kept reachable; False (and
    nothing changed) if its condition no longer holds or a new reference stops it."""
    since = f.since if f.since is not None else cut.now
    try:
        with conn.begin_nested() as savepoint:
            gc_queue.manifests_going(conn, [f.id], since)
            if gc_review.delete_unreachable_manifest(
                conn, f.id, cut.unreachable_by, cut.touched_by
            ):
                return True
            savepoint.rollback()
    except IntegrityError:
        pass  # a tag or an index referencing it arrived meanwhile: it stays
    return False


# -- blobs -------------------------------------------------------------------------------


def _blobs(db: Database, store: BlobStore, cut: Cutoffs, figures: Figures, sink: RunSink) -> None:
    after: str | None = None
    while True:
        sink.beat("blobs", figures)
        hidden: list[str] = []
        try:
            with _paced(), db.write() as conn:
                batch = gc_review.blob_queue(conn, cut.unreachable_by, after, BATCH)
                if not batch:
                    return
                after = batch[-1][1]
                digests = [digest for _, digest in batch]
                lock_digests(conn, digests)
                due = gc_review.due_blobs(conn, digests, cut.unreachable_by)
                figures.blobs_examined += len(due)
                removed = _remove_blobs(conn, due, cut)
                for digest, _size in removed.blobs:
                    if store.hide_blob(digest):
                        hidden.append(digest)
                figures.links_removed += removed.links
                figures.blobs_removed += len(removed.blobs)
                figures.kept_recent += removed.waiting
                gc_review.drop_blob_reviews(conn, removed.done)
                sink.items(conn, removed.items)
        except BaseException:
            for digest in hidden:
                store.restore_blob(digest)
            raise
        figures.bytes_freed += store.drop_hidden(hidden)


@dataclass(slots=True)
class _Removed:
    links: int = 0
    blobs: list[tuple[str, int]] = field(default_factory=list)  # (digest, size)
    waiting: int = 0  # unused links kept for the in-flight window
    done: list[str] = field(default_factory=list)  # reviewed: they leave the queue
    items: list[Item] = field(default_factory=list)

    def add(self, other: _Removed) -> None:
        self.links += other.links
        self.blobs += other.blobs
        self.waiting += other.waiting
        self.done += other.done
        self.items += other.items


def _remove_blobs(conn: Connection, due: list[str], cut: Cutoffs) -> _Removed:
    """Remove what of these blobs may go, the whole batch in one savepoint; if a new
    reference stops a delete (a manifest started using a blob meanwhile), blob by blob, and
    those stopped are reviewed again next run."""
    try:
        with conn.begin_nested():
            return _remove_in(conn, due, cut)
    except IntegrityError:
        pass
    removed = _Removed()
    for digest in due:
        try:
            with conn.begin_nested():
                removed.add(_remove_in(conn, [digest], cut))
        except IntegrityError:
            pass
    return removed


def _remove_in(conn: Connection, due: list[str], cut: Cutoffs) -> _Removed:
    """The rules of `rules.blob_verdicts`, in SQL: a link no manifest of its repository
    uses goes unless a client was told of it within the in-flight window (then it waits,
    and its blob stays queued); a blob goes with its last link. The bytes are hidden once
    these deletes succeeded."""
    unlinked = gc_review.delete_unused_links(conn, due, cut.touched_by)
    waiting = gc_review.waiting_links(conn, due, cut.touched_by)
    sizes = gc_review.delete_unlinked_blobs(conn, due)
    names = deletes.repository_names(conn, {repo_id for repo_id, _ in unlinked})
    removed = _Removed(links=len(unlinked), waiting=sum(waiting.values()))
    removed.items = [
        Item(0, "link", names[repo_id], digest, 0, None) for repo_id, digest in unlinked
    ]
    for digest in due:
        if digest in sizes:
            removed.blobs.append((digest, sizes[digest]))
            removed.items.append(Item(0, "blob", None, digest, sizes[digest], None))
        if digest not in waiting:
            removed.done.append(digest)
    return removed


# -- uploads -----------------------------------------------------------------------------


def _uploads(db: Database, store: BlobStore, cut: Cutoffs, figures: Figures, sink: RunSink) -> None:
    """Upload sessions idle past the expiry go with their bytes; a session a request is
    writing to right now is left alone. Then bytes of uploads that have no session."""
    sink.beat("uploads", figures)
    after: str | None = None
    while True:
        with db.read() as conn:
            rows = uploads.expired_uploads(conn, cut.uploads_by, BATCH, after)
        if not rows:
            break
        after = rows[-1].id
        for row in rows:
            try:
                writer = store.open_upload(row.id)
            except UploadBusy:
                continue
            except Exception:  # no bytes at all: the row still goes
                writer = None
            try:
                with db.write() as conn:
                    if not uploads.remove_if_idle(conn, row.id, cut.uploads_by):
                        continue
                    freed = store.delete_upload(row.id)
                    sink.items(conn, [Item(0, "upload", row.repository, row.id, freed, None)])
            finally:
                if writer is not None:
                    writer.close()
            figures.uploads_removed += 1
            figures.upload_bytes_freed += freed
    stale = [(i, size) for i, size, mtime in store.upload_files() if mtime <= cut.uploads_by]
    for chunk in chunks(stale):
        with db.read() as conn:
            sessions = uploads.existing_uploads(conn, [i for i, _ in chunk])
        for upload_id, _size in chunk:
            if upload_id not in sessions:
                freed = store.delete_upload(upload_id)
                figures.uploads_removed += 1
                figures.upload_bytes_freed += freed
                sink.items(None, [Item(0, "upload", None, upload_id, freed, "no session")])
