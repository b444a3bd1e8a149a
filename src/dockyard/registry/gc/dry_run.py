"""The dry run: the real run's rules (gc.rules) applied to one read snapshot, without
deleting anything. It follows the same cascade the real run follows through its queues
(a manifest that goes releases its children, referrers and blobs, with the same times), so
on a quiet registry it names exactly what the real run removes, and the bytes the store
holds for it.

Memory grows with what would go, not with the size of the store.
"""

from __future__ import annotations

from collections import deque

from sqlalchemy import Connection

from dockyard.metadata.db import Database
from dockyard.metadata.queries import gc_review, uploads
from dockyard.metadata.queries._batching import chunks
from dockyard.metadata.queries.gc_review import ManifestFacts
from dockyard.registry.gc.collect import BATCH
from dockyard.registry.gc.report import Figures, Item
from dockyard.registry.gc.rules import Cutoffs, Verdict, blob_verdicts, manifest_verdict
from dockyard.registry.gc.sink import RunSink
from dockyard.storage.base import BlobStore

__all__ = ["dry_run"]


def dry_run(db: Database, store: BlobStore, cut: Cutoffs, sink: RunSink) -> Figures:
    figures = Figures()
    with db.read() as conn:
        doomed = _manifests(conn, cut, figures, sink) if cut.untagged else {}
        _blobs(conn, store, cut, doomed, figures, sink)
        _uploads(conn, store, cut, figures, sink)
    return figures


def _queued(conn: Connection, cut: Cutoffs) -> list[int]:
    ids: list[int] = []
    after: tuple[int, int] | None = None
    while batch := gc_review.manifest_queue(conn, cut.unreachable_by, after, 5000):
        ids.extend(i for _, i in batch)
        after = batch[-1]
    return ids


def _manifests(
    conn: Connection, cut: Cutoffs, figures: Figures, sink: RunSink
) -> dict[int, ManifestFacts]:
    facts: dict[int, ManifestFacts] = {}
    times: dict[int, tuple[int, int]] = {}  # since, touched: as the real run's queue has them

    def load(ids: list[int]) -> None:
        missing = [i for i in ids if i not in facts]
        for chunk in chunks(missing, BATCH):
            sink.beat("manifests", figures)
            for manifest_id, f in gc_review.manifest_facts(
                conn, chunk, cut.undo_after, cut.now, False
            ).items():
                facts[manifest_id] = f
                if f.since is not None and f.touched_at is not None:
                    times[manifest_id] = (f.since, f.touched_at)

    work = deque(_queued(conn, cut))
    load(list(work))
    figures.manifests_examined = len(work)
    doomed: dict[int, ManifestFacts] = {}
    seen: set[int] = set(work)
    while work:
        manifest_id = work.popleft()
        f = facts.get(manifest_id)
        if f is None or manifest_id in doomed or manifest_id not in times:
            continue
        since, touched = times[manifest_id]
        if manifest_verdict(f, since, touched, doomed, cut) is not Verdict.REMOVE:
            continue
        f.since, f.touched_at = since, touched  # as its queue row has them when it goes
        doomed[manifest_id] = f
        released = sorted(f.children | f.referrers)
        load(released)
        for other in released:
            g = facts.get(other)
            if g is None:
                continue
            # enqueue_manifests: the later `since`, and `touched` at least its push time
            old_since, old_touched = times.get(other, (since, g.created_at))
            times[other] = (max(old_since, since), max(old_touched, g.created_at))
            if other not in seen:
                seen.add(other)
                figures.manifests_examined += 1
            work.append(other)
    for manifest_id, f in facts.items():
        if manifest_id in doomed or manifest_id not in times:
            continue
        since, touched = times[manifest_id]
        verdict = manifest_verdict(f, since, touched, doomed, cut)
        if verdict is Verdict.WAIT and touched > cut.touched_by:
            figures.kept_recent += 1
    figures.manifests_removed = len(doomed)
    items = [
        Item(0, "manifest", f.repository, f.digest, f.size, None)
        for f in sorted(doomed.values(), key=lambda f: (f.repository, f.digest))
    ]
    for chunk in chunks(items, 1000):
        sink.items(None, chunk)
    return doomed


def _blobs(
    conn: Connection,
    store: BlobStore,
    cut: Cutoffs,
    doomed: dict[int, ManifestFacts],
    figures: Figures,
    sink: RunSink,
) -> None:
    since: dict[str, int] = {}
    after: str | None = None
    while batch := gc_review.blob_queue(conn, cut.unreachable_by, after, 5000):
        since.update({digest: s for s, digest in batch})
        after = batch[-1][1]
    released: dict[str, int] = {}  # what enqueue_blobs_of would write
    for f in doomed.values():
        for digest in f.blobs:
            at = f.since if f.since is not None else cut.now
            released[digest] = max(released.get(digest, at), at)
    queued = gc_review.queued_blobs(conn, released)
    for digest, at in released.items():
        since[digest] = max(queued.get(digest, at), at)
    candidates = sorted(d for d, s in since.items() if s <= cut.unreachable_by)
    for chunk in chunks(candidates, BATCH):
        sink.beat("blobs", figures)
        items: list[Item] = []
        for digest, facts in gc_review.blob_facts(conn, chunk).items():
            figures.blobs_examined += 1
            verdict = blob_verdicts(facts, doomed, cut)
            for link, link_verdict in verdict.links:
                if link_verdict is Verdict.REMOVE:
                    figures.links_removed += 1
                    items.append(Item(0, "link", link.repository, digest, 0, None))
                elif link_verdict is Verdict.WAIT:
                    figures.kept_recent += 1
            if verdict.remove_blob and facts.size is not None:
                figures.blobs_removed += 1
                figures.bytes_freed += store.blob_size(digest) or 0
                items.append(Item(0, "blob", None, digest, facts.size, None))
        sink.items(None, items)


def _uploads(
    conn: Connection, store: BlobStore, cut: Cutoffs, figures: Figures, sink: RunSink
) -> None:
    sink.beat("uploads", figures)
    files = {upload_id: size for upload_id, size, _ in store.upload_files()}
    found: list[Item] = []
    after: str | None = None
    while rows := uploads.expired_uploads(conn, cut.uploads_by, BATCH, after):
        after = rows[-1].id
        for row in rows:
            size = files.get(row.id, 0)
            found.append(Item(0, "upload", row.repository, row.id, size, None))
    stale = [(i, size) for i, size, mtime in store.upload_files() if mtime <= cut.uploads_by]
    for chunk in chunks(stale):
        sessions = uploads.existing_uploads(conn, [i for i, _ in chunk])
        found.extend(
            Item(0, "upload", None, i, size, "no session") for i, size in chunk if i not in sessions
        )
    figures.uploads_removed = len(found)
    figures.upload_bytes_freed = sum(item.size for item in found)
    for part in chunks(found, 1000):
        sink.items(None, part)
