"""What garbage collection reads about its candidates, and the deletes it makes.

Readers inside the deleting transaction lock what they read (`lock=True`, `due_blobs`:
PostgreSQL `FOR UPDATE`; SQLite's write transaction already excludes every other writer),
so a client refreshing one of them waits for the decision or is seen by it. Each delete
re-states in its WHERE clause the condition the candidate was chosen on, and foreign keys
(ON DELETE RESTRICT) stop a delete that a concurrent new reference would contradict: the
caller runs each delete in a savepoint and keeps what failed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import (
    BindParameter,
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)

from dockyard.metadata.models import (
    Blob,
    DeletedManifest,
    GcBlobReview,
    GcManifestReview,
    Manifest,
    ManifestReference,
    Repository,
    RepositoryBlob,
    Tag,
    table_of,
)
from dockyard.metadata.queries._batching import chunks
from dockyard.metadata.queries.gc_queue import BLOB_KINDS
from dockyard.metadata.queries.usage import lock_counters, uncount_pairs

__all__ = [
    "BlobFacts",
    "LinkFacts",
    "ManifestFacts",
    "blob_exists",
    "blob_facts",
    "blob_queue",
    "blob_rows",
    "delete_unlinked_blobs",
    "delete_unreachable_manifest",
    "delete_unused_links",
    "drop_blob_reviews",
    "drop_manifest_reviews",
    "due_blobs",
    "manifest_facts",
    "manifest_queue",
    "queued_blobs",
    "waiting_links",
]

_mq = table_of(GcManifestReview)
_bq = table_of(GcBlobReview)
_man = table_of(Manifest)
_ref = table_of(ManifestReference)
_tag = table_of(Tag)
_repo = table_of(Repository)
_link = table_of(RepositoryBlob)
_blob = table_of(Blob)
_deleted = table_of(DeletedManifest)


# -- manifests ---------------------------------------------------------------------------


@dataclass(slots=True)
class ManifestFacts:
    """A manifest under review. `since`/`touched_at` are its queue row's (None when it has
    none: a dry run reached it through a manifest it would remove)."""

    id: int
    repository_id: int
    repository: str
    digest: str
    media_type: str
    size: int
    created_at: int
    since: int | None
    touched_at: int | None
    tagged: bool = False
    undo_pending: bool = False
    subject_id: int | None = None  # its subject, when that is in the repository
    parents: set[int] = field(default_factory=set)  # indexes listing it
    children: set[int] = field(default_factory=set)
    referrers: set[int] = field(default_factory=set)
    blobs: set[str] = field(default_factory=set)  # linked blobs it uses


def manifest_queue(
    conn: Connection, by: int, after: tuple[int, int] | None, limit: int
) -> list[tuple[int, int]]:
    """Queue rows (since, manifest id) with `since` at or before `by`, in that order,
    after the keyset position `after`."""
    query = select(_mq.c.since, _mq.c.manifest_id).where(_mq.c.since <= by)
    if after is not None:
        query = query.where(
            or_(
                _mq.c.since > after[0],
                and_(_mq.c.since == after[0], _mq.c.manifest_id > after[1]),
            )
        )
    query = query.order_by(_mq.c.since, _mq.c.manifest_id).limit(limit)
    return [(int(since), int(i)) for since, i in conn.execute(query)]


def manifest_facts(
    conn: Connection, ids: Iterable[int], undo_after: int, now: int, lock: bool
) -> dict[int, ManifestFacts]:
    """Everything a review decides on, for each of these manifests that still exists.
    `undo_after`: delete records newer than this may still be undone; retention removals
    restorable at `now` keep what they removed too."""
    facts: dict[int, ManifestFacts] = {}
    subject = _man.alias("subject")
    for chunk in chunks(set(ids)):
        queued = select(_mq.c.manifest_id, _mq.c.since, _mq.c.touched_at).where(
            _mq.c.manifest_id.in_(chunk)
        )
        if lock:
            queued = queued.with_for_update()
        queue = {int(i): (int(s), int(t)) for i, s, t in conn.execute(queued)}
        rows = (
            select(
                _man.c.id, _man.c.repository_id, _repo.c.name, _man.c.digest,
                _man.c.media_type, _man.c.size, _man.c.created_at,
            )
            .join(_repo, _repo.c.id == _man.c.repository_id)
            .where(_man.c.id.in_(chunk))
        )  # fmt: skip
        for i, repo_id, repo, digest, media_type, size, created in conn.execute(rows):
            since, touched = queue.get(int(i), (None, None))
            facts[int(i)] = ManifestFacts(
                int(i), int(repo_id), repo, digest, media_type, int(size), int(created),
                since, touched,
            )  # fmt: skip
        present = [i for i in chunk if i in facts]
        if not present:
            continue
        tagged = select(_tag.c.manifest_id).where(_tag.c.manifest_id.in_(present)).distinct()
        for i in conn.execute(tagged).scalars():
            facts[int(i)].tagged = True
        refs = select(_ref.c.manifest_id, _ref.c.child_manifest_id).where(
            or_(_ref.c.child_manifest_id.in_(present), _ref.c.manifest_id.in_(present)),
            _ref.c.child_manifest_id.is_not(None),
        )
        for parent, child in conn.execute(refs):
            if int(child) in facts:
                facts[int(child)].parents.add(int(parent))
            if int(parent) in facts:
                facts[int(parent)].children.add(int(child))
        subjects = (
            select(_man.c.id, subject.c.id)
            .join(
                subject,
                (subject.c.repository_id == _man.c.repository_id)
                & (subject.c.digest == _man.c.subject_digest),
            )
            .where(or_(_man.c.id.in_(present), subject.c.id.in_(present)))
        )
        for referrer, subject_id in conn.execute(subjects):
            if int(referrer) in facts:
                facts[int(referrer)].subject_id = int(subject_id)
            if int(subject_id) in facts:
                facts[int(subject_id)].referrers.add(int(referrer))
        blobs = select(_ref.c.manifest_id, _ref.c.digest).where(
            _ref.c.manifest_id.in_(present),
            _ref.c.kind.in_(BLOB_KINDS),
            _ref.c.repository_id.is_not(None),
        )
        for i, digest in conn.execute(blobs):
            facts[int(i)].blobs.add(digest)
        undoable = (
            select(_man.c.id)
            .join(
                _deleted,
                (_deleted.c.repository_id == _man.c.repository_id)
                & (_deleted.c.digest == _man.c.digest),
            )
            .where(
                _man.c.id.in_(present),
                or_(_deleted.c.deleted_at >= undo_after, _deleted.c.kept_until >= now),
            )
        )
        for i in conn.execute(undoable).scalars():
            facts[int(i)].undo_pending = True
    return facts


def delete_unreachable_manifest(
    conn: Connection, manifest_id: int, since_by: int, touched_by: int
) -> bool:
    """Delete the manifest if it is still untagged, listed by no index, without a subject in
    its repository, and queued (and touched) at or before the cutoffs; its references and
    queue row cascade."""
    subject = _man.alias("subject")
    stmt = delete(_man).where(
        _man.c.id == manifest_id,
        ~exists().where(_tag.c.manifest_id == manifest_id),
        ~exists().where(_ref.c.child_manifest_id == manifest_id),
        exists().where(
            _mq.c.manifest_id == manifest_id,
            _mq.c.since <= since_by,
            _mq.c.touched_at <= touched_by,
        ),
        or_(
            _man.c.subject_digest.is_(None),
            ~exists().where(
                subject.c.repository_id == _man.c.repository_id,
                subject.c.digest == _man.c.subject_digest,
            ),
        ),
    )
    return conn.execute(stmt).rowcount == 1


def drop_manifest_reviews(conn: Connection, ids: Iterable[int]) -> None:
    for chunk in chunks(set(ids)):
        conn.execute(delete(_mq).where(_mq.c.manifest_id.in_(chunk)))


# -- blobs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkFacts:
    repository_id: int
    repository: str
    linked_at: int
    users: frozenset[int]  # manifests of the repository that use the blob


@dataclass(frozen=True, slots=True)
class BlobFacts:
    digest: str
    size: int | None  # None: no blob row (gone already)
    since: int | None  # its queue row's
    links: tuple[LinkFacts, ...]


def blob_queue(conn: Connection, by: int, after: str | None, limit: int) -> list[tuple[int, str]]:
    """Queue rows (since, digest) with `since` at or before `by`, in digest order after the
    digest `after`. Digest order, not `since` order: consecutive batches then touch
    neighbouring pages of every index keyed by digest (blob, links, usage, the queue), so a
    batch's commit writes tens of pages per index instead of one per candidate."""
    query = select(_bq.c.since, _bq.c.digest).where(_bq.c.since <= by)
    if after is not None:
        query = query.where(_bq.c.digest > after)
    query = query.order_by(_bq.c.digest).limit(limit)
    return [(int(since), digest) for since, digest in conn.execute(query)]


def queued_blobs(conn: Connection, digests: Iterable[str]) -> dict[str, int]:
    """The queue's `since` of each of these digests that is queued."""
    found: dict[str, int] = {}
    for chunk in chunks(set(digests)):
        query = select(_bq.c.digest, _bq.c.since).where(_bq.c.digest.in_(chunk))
        found.update({digest: int(since) for digest, since in conn.execute(query)})
    return found


def blob_facts(conn: Connection, digests: Iterable[str]) -> dict[str, BlobFacts]:
    """What the dry run weighs about each blob: its queue row, size, links and their users
    (the real run decides the same in SQL: `delete_unused_links`, `waiting_links`)."""
    facts: dict[str, BlobFacts] = {}
    for chunk in chunks(sorted(set(digests))):
        queued = select(_bq.c.digest, _bq.c.since).where(_bq.c.digest.in_(chunk))
        links = (
            select(_link.c.digest, _link.c.repository_id, _repo.c.name, _link.c.linked_at)
            .join(_repo, _repo.c.id == _link.c.repository_id)
            .where(_link.c.digest.in_(chunk))
        )
        since = {digest: int(s) for digest, s in conn.execute(queued)}
        sized = select(_blob.c.digest, _blob.c.size).where(_blob.c.digest.in_(chunk))
        sizes = {digest: int(size) for digest, size in conn.execute(sized)}
        users: defaultdict[tuple[str, int], set[int]] = defaultdict(set)
        uses = select(_ref.c.digest, _ref.c.repository_id, _ref.c.manifest_id).where(
            _ref.c.digest.in_(chunk), _ref.c.repository_id.is_not(None)
        )
        for digest, repo_id, manifest_id in conn.execute(uses):
            users[(digest, int(repo_id))].add(int(manifest_id))
        found: defaultdict[str, list[LinkFacts]] = defaultdict(list)
        for digest, repo_id, repo, linked_at in conn.execute(links):
            key = (digest, int(repo_id))
            found[digest].append(
                LinkFacts(int(repo_id), repo, int(linked_at), frozenset(users.get(key, ())))
            )
        for digest in chunk:
            size = sizes.get(digest)
            facts[digest] = BlobFacts(
                digest,
                None if size is None else int(size),
                since.get(digest),
                tuple(sorted(found.get(digest, []), key=lambda link: link.repository)),
            )
    return facts


_DIGESTS: BindParameter[str] = bindparam("digests", expanding=True)
_unused_here = ~exists().where(
    _ref.c.repository_id == _link.c.repository_id, _ref.c.digest == _link.c.digest
)
_DUE = (
    select(_bq.c.digest)
    .where(_bq.c.digest.in_(_DIGESTS), _bq.c.since <= bindparam("by"))
    .with_for_update()
)
_UNLINK = (
    delete(_link)
    .where(_link.c.digest.in_(_DIGESTS), _link.c.linked_at <= bindparam("touched"), _unused_here)
    .returning(_link.c.repository_id, _link.c.digest)
)
_WAITING = (
    select(_link.c.digest, func.count())
    .where(_link.c.digest.in_(_DIGESTS), _link.c.linked_at > bindparam("touched"), _unused_here)
    .group_by(_link.c.digest)
)
_SIZES = select(_blob.c.digest, _blob.c.size).where(_blob.c.digest.in_(_DIGESTS))


def due_blobs(conn: Connection, digests: Iterable[str], by: int) -> list[str]:
    """Of these digests, those still queued since at or before `by`; their queue rows are
    locked (PostgreSQL), so no client postpones one before this transaction ends."""
    due: list[str] = []
    for chunk in chunks(sorted(set(digests))):
        due += conn.execute(_DUE, {"digests": chunk, "by": by}).scalars()
    return due


def delete_unused_links(
    conn: Connection, digests: Iterable[str], touched_by: int
) -> list[tuple[int, str]]:
    """Unlink these blobs from each repository where no manifest uses them and no client
    was told of them after `touched_by`; returns the (repository id, digest) links that
    went, with the repositories' `stored_bytes` and the namespaces' usage moved to match."""
    unlinked: list[tuple[int, str]] = []
    for chunk in chunks(sorted(set(digests))):
        rows = conn.execute(_UNLINK, {"digests": chunk, "touched": touched_by})
        unlinked += [(int(repo_id), digest) for repo_id, digest in rows]
    if not unlinked:
        return unlinked
    # The batch's digest locks keep pushes off these links; counters are locked in the
    # order pushes take them (usage.lock_counters) before they move.
    lock_counters(conn, [repo_id for repo_id, _ in unlinked])
    sizes: dict[str, int] = {}
    for chunk in chunks(sorted({digest for _, digest in unlinked})):
        rows = conn.execute(_SIZES, {"digests": chunk})
        sizes.update((digest, int(size)) for digest, size in rows)
    freed: defaultdict[int, int] = defaultdict(int)
    for repo_id, digest in unlinked:
        freed[repo_id] += sizes.get(digest, 0)
    conn.execute(
        update(_repo)
        .where(_repo.c.id == bindparam("rid"))
        .values(stored_bytes=_repo.c.stored_bytes - bindparam("freed")),
        [{"rid": repo_id, "freed": n} for repo_id, n in sorted(freed.items())],
    )
    uncount_pairs(conn, unlinked, sizes)
    return unlinked


def waiting_links(conn: Connection, digests: Iterable[str], touched_by: int) -> dict[str, int]:
    """Per digest, how many of its links no manifest uses but a client was told of after
    `touched_by`: they wait out the in-flight window, and the blob stays queued."""
    waiting: dict[str, int] = {}
    for chunk in chunks(sorted(set(digests))):
        rows = conn.execute(_WAITING, {"digests": chunk, "touched": touched_by})
        waiting.update((digest, int(n)) for digest, n in rows)
    return waiting


_FORGET = (
    delete(_blob)
    .where(_blob.c.digest.in_(_DIGESTS), ~exists().where(_link.c.digest == _blob.c.digest))
    .returning(_blob.c.digest, _blob.c.size)
)


def delete_unlinked_blobs(conn: Connection, digests: Iterable[str]) -> dict[str, int]:
    """Forget each blob that no repository links; returns the sizes of those that went."""
    gone: dict[str, int] = {}
    for chunk in chunks(sorted(set(digests))):
        rows = conn.execute(_FORGET, {"digests": chunk})
        gone.update((digest, int(size)) for digest, size in rows)
    return gone


_DROP_REVIEWS = delete(_bq).where(_bq.c.digest.in_(_DIGESTS))


def drop_blob_reviews(conn: Connection, digests: Iterable[str]) -> None:
    for chunk in chunks(sorted(set(digests))):
        conn.execute(_DROP_REVIEWS, {"digests": chunk})


def blob_exists(conn: Connection, digest: str) -> bool:
    return conn.execute(select(exists().where(_blob.c.digest == digest))).scalar() is True


def blob_rows(conn: Connection, after: str, limit: int) -> list[tuple[str, int]]:
    """Blob rows (digest, size) in digest order after `after`, for verification."""
    query = (
        select(_blob.c.digest, _blob.c.size)
        .where(_blob.c.digest > after)
        .order_by(_blob.c.digest)
        .limit(limit)
    )
    return [(digest, int(size)) for digest, size in conn.execute(query)]
