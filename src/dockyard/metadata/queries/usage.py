"""Storage usage per repository and namespace, and the namespace quotas.

Two figures are kept as links come and go, so that the push path reads rows instead of
summing blobs: `repository.stored_bytes` (queries/blobs.py) and, per namespace, a
`namespace_blob` row counting the namespace's links to each blob with
`namespace.stored_bytes` moving when such a row appears or goes. Every statement that adds
or removes a `repository_blob` row calls `count_link` or `uncount_links` in the same
transaction. The own / shared split is computed when asked (a page, never a push).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    case,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from dockyard.metadata.models import (
    Blob,
    Namespace,
    NamespaceBlob,
    Repository,
    RepositoryBlob,
    table_of,
)
from dockyard.metadata.queries._batching import chunks
from dockyard.metadata.queries._sums import total as sql_total
from dockyard.metadata.queries._upsert import insert_ignore, insert_ignore_returning

__all__ = [
    "NamespaceQuota",
    "Split",
    "blob_count",
    "count_link",
    "has_blob",
    "list_quotas",
    "lock_counters",
    "namespace_quota",
    "namespace_split",
    "recount",
    "repository_split",
    "set_quota",
    "uncount_everywhere",
    "uncount_links",
    "uncount_pairs",
    "uncount_repository",
]

_ns = table_of(Namespace)
_nsb = table_of(NamespaceBlob)
_repo = table_of(Repository)
_link = table_of(RepositoryBlob)
_blob = table_of(Blob)


@dataclass(frozen=True, slots=True)
class NamespaceQuota:
    id: int
    name: str
    stored_bytes: int  # blobs linked anywhere in it, each once
    quota_bytes: int | None  # None: no quota
    quota_set_by: str | None
    quota_set_at: int | None


@dataclass(frozen=True, slots=True)
class Split:
    """Bytes and blobs, each blob once, and the part that something else also links."""

    total_bytes: int
    shared_bytes: int
    blobs: int
    shared_blobs: int


_QUOTA_COLUMNS = (
    _ns.c.id,
    _ns.c.name,
    _ns.c.stored_bytes,
    _ns.c.quota_bytes,
    _ns.c.quota_set_by,
    _ns.c.quota_set_at,
)


def _quota(row: Sequence[Any]) -> NamespaceQuota:
    return NamespaceQuota(*row)


# -- keeping the counters ---------------------------------------------------------------


def _namespace_id(conn: Connection, repo_id: int) -> int | None:
    query = select(_ns.c.id).join(_repo, _repo.c.namespace == _ns.c.name)
    found = conn.execute(query.where(_repo.c.id == repo_id)).scalar()
    return None if found is None else int(found)


def _sizes(digests: list[str]) -> ColumnElement[int]:
    return select(sql_total(_blob.c.size)).where(_blob.c.digest.in_(digests)).scalar_subquery()


def lock_counters(conn: Connection, repo_ids: Iterable[int]) -> None:
    """Lock the counters an unlink lowers, in the one order every writer takes them: the
    repositories' namespace rows, then the repository rows, each by id.

    PostgreSQL: a push locks its namespace (the quota check, `SELECT … FOR UPDATE`) before
    it touches its repository and its link, so anything that lowers counters must not hold
    a repository row or a link while it waits for a namespace. Callers lock first, then
    delete links and move counters. SQLite: the write lock already orders everything.
    """
    if conn.dialect.name != "postgresql":
        return
    for chunk in chunks(sorted(set(repo_ids))):
        owners = select(_repo.c.namespace).where(_repo.c.id.in_(chunk))
        conn.execute(
            select(_ns.c.id).where(_ns.c.name.in_(owners)).order_by(_ns.c.id).with_for_update()
        ).all()
    for chunk in chunks(sorted(set(repo_ids))):
        conn.execute(
            select(_repo.c.id).where(_repo.c.id.in_(chunk)).order_by(_repo.c.id).with_for_update()
        ).all()


def count_link(conn: Connection, repo_id: int, digest: str) -> None:
    """A new link of `digest` in the repository: one more in its namespace, and the blob's
    bytes added to the namespace when it is the namespace's first.

    PostgreSQL: two first links of one blob in one namespace meet on the row's primary key;
    the second waits for the first to commit, inserts nothing and counts one more.
    """
    namespace_id = _namespace_id(conn, repo_id)
    if namespace_id is None:  # pragma: no cover - ensure_repository makes the namespace row
        return
    row = {"namespace_id": namespace_id, "digest": digest, "links": 1}
    if insert_ignore(conn, _nsb, row, ["namespace_id", "digest"]):
        conn.execute(
            update(_ns)
            .where(_ns.c.id == namespace_id)
            .values(stored_bytes=_ns.c.stored_bytes + _sizes([digest]))
        )
    else:
        conn.execute(
            update(_nsb)
            .where(_nsb.c.namespace_id == namespace_id, _nsb.c.digest == digest)
            .values(links=_nsb.c.links + 1)
        )


def count_links(conn: Connection, repo_id: int, digests: list[str]) -> None:
    """`count_link` for several new links of one repository, in a few statements."""
    namespace_id = _namespace_id(conn, repo_id)
    if namespace_id is None or not digests:  # pragma: no cover - see count_link
        return
    ordered = sorted(set(digests))
    for chunk in chunks(ordered):
        rows = [{"namespace_id": namespace_id, "digest": d, "links": 1} for d in chunk]
        first = insert_ignore_returning(conn, _nsb, rows, ["namespace_id", "digest"], "digest")
        if first:
            conn.execute(
                update(_ns)
                .where(_ns.c.id == namespace_id)
                .values(stored_bytes=_ns.c.stored_bytes + _sizes(list(first)))
            )
        more = sorted(set(chunk) - set(first))
        if more:
            conn.execute(
                update(_nsb)
                .where(_nsb.c.namespace_id == namespace_id, _nsb.c.digest.in_(more))
                .values(links=_nsb.c.links + 1)
            )


def has_blobs(conn: Connection, namespace_id: int, digests: list[str]) -> set[str]:
    """Which of the blobs some repository of the namespace links already."""
    found: set[str] = set()
    for chunk in chunks(digests):
        query = select(_nsb.c.digest).where(
            _nsb.c.namespace_id == namespace_id, _nsb.c.digest.in_(chunk)
        )
        found.update(conn.execute(query).scalars())
    return found


def _drop_counts(conn: Connection, namespace_id: int, digests: list[str]) -> None:
    """One link fewer for each digest; the namespace frees the bytes of those at zero.
    Called while the blob rows still exist (their sizes are read here)."""
    key = (_nsb.c.namespace_id == namespace_id, _nsb.c.digest.in_(digests))
    conn.execute(update(_nsb).where(*key).values(links=_nsb.c.links - 1))
    gone = list(
        conn.execute(delete(_nsb).where(*key, _nsb.c.links <= 0).returning(_nsb.c.digest)).scalars()
    )
    if gone:
        conn.execute(
            update(_ns)
            .where(_ns.c.id == namespace_id)
            .values(stored_bytes=_ns.c.stored_bytes - _sizes(gone))
        )


def uncount_links(conn: Connection, repo_id: int, digests: Iterable[str]) -> None:
    """Links of these digests left the repository (each was there once)."""
    namespace_id = _namespace_id(conn, repo_id)
    if namespace_id is None:  # pragma: no cover - see count_link
        return
    for chunk in chunks(sorted(set(digests))):
        _drop_counts(conn, namespace_id, chunk)


def uncount_pairs(
    conn: Connection, pairs: Iterable[tuple[int, str]], sizes: Mapping[str, int]
) -> None:
    """Links (repository id, digest) left their repositories, many at once (garbage
    collection); `sizes` holds each digest's size. Rows are updated in key order, so two
    transactions doing this cannot deadlock on PostgreSQL."""
    pairs = sorted(set(pairs))
    namespace_of: dict[int, int] = {}
    for chunk in chunks(sorted({repo_id for repo_id, _ in pairs})):
        query = select(_repo.c.id, _ns.c.id).join(_ns, _ns.c.name == _repo.c.namespace)
        for repo_id, namespace_id in conn.execute(query.where(_repo.c.id.in_(chunk))):
            namespace_of[int(repo_id)] = int(namespace_id)
    fewer = Counter((namespace_of[repo_id], digest) for repo_id, digest in pairs)
    if not fewer:
        return
    conn.execute(
        update(_nsb)
        .where(_nsb.c.namespace_id == bindparam("ns"), _nsb.c.digest == bindparam("d"))
        .values(links=_nsb.c.links - bindparam("n")),
        [{"ns": ns, "d": digest, "n": n} for (ns, digest), n in sorted(fewer.items())],
    )
    freed: defaultdict[int, int] = defaultdict(int)
    for digests in chunks(sorted({digest for _, digest in fewer})):
        # Only counts this transaction brought to zero can be at zero (none stays there).
        gone = delete(_nsb).where(_nsb.c.digest.in_(digests), _nsb.c.links <= 0)
        for ns, digest in conn.execute(gone.returning(_nsb.c.namespace_id, _nsb.c.digest)):
            freed[int(ns)] += sizes[digest]
    if freed:
        conn.execute(
            update(_ns)
            .where(_ns.c.id == bindparam("ns"))
            .values(stored_bytes=_ns.c.stored_bytes - bindparam("freed")),
            [{"ns": ns, "freed": n} for ns, n in sorted(freed.items())],
        )


def uncount_repository(conn: Connection, repo_id: int) -> None:
    """Every link of the repository is about to go (a repository delete)."""
    namespace_id = _namespace_id(conn, repo_id)
    if namespace_id is None:  # pragma: no cover - see count_link
        return
    linked = select(_link.c.digest).where(_link.c.repository_id == repo_id)
    for chunk in chunks(sorted(conn.execute(linked).scalars())):
        _drop_counts(conn, namespace_id, chunk)


def uncount_everywhere(conn: Connection, digest: str) -> None:
    """The blob is about to be unlinked from every repository (a layer purge)."""
    holders = list(
        conn.execute(
            delete(_nsb).where(_nsb.c.digest == digest).returning(_nsb.c.namespace_id)
        ).scalars()
    )
    if holders:
        conn.execute(
            update(_ns)
            .where(_ns.c.id.in_(sorted(holders)))
            .values(stored_bytes=_ns.c.stored_bytes - _sizes([digest]))
        )


def recount(conn: Connection) -> None:
    """Rebuild every namespace's counters from the links (a repair; the migration's SQL)."""
    conn.execute(delete(_nsb))
    counted = (
        select(_ns.c.id, _link.c.digest, func.count())
        .select_from(_link)
        .join(_repo, _repo.c.id == _link.c.repository_id)
        .join(_ns, _ns.c.name == _repo.c.namespace)
        .group_by(_ns.c.id, _link.c.digest)
    )
    conn.execute(_nsb.insert().from_select(["namespace_id", "digest", "links"], counted))
    total = (
        select(sql_total(_blob.c.size))
        .select_from(_nsb.join(_blob, _blob.c.digest == _nsb.c.digest))
        .where(_nsb.c.namespace_id == _ns.c.id)
        .scalar_subquery()
    )
    conn.execute(update(_ns).values(stored_bytes=total))


# -- quotas -----------------------------------------------------------------------------


def namespace_quota(conn: Connection, name: str, *, lock: bool = False) -> NamespaceQuota | None:
    """The namespace's usage counter and quota; `lock` (inside a write transaction that
    will add bytes): PostgreSQL `FOR UPDATE`, so commits into one namespace check and add
    one after the other (SQLite's write lock already does that)."""
    query = select(*_QUOTA_COLUMNS).where(_ns.c.name == name)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _quota(row) if row else None


def list_quotas(conn: Connection, names: frozenset[str] | None = None) -> list[NamespaceQuota]:
    """Every namespace (or those named), by name."""
    query = select(*_QUOTA_COLUMNS).order_by(_ns.c.name)
    if names is not None:
        query = query.where(_ns.c.name.in_(sorted(names)))
    return [_quota(row) for row in conn.execute(query)]


def blob_count(conn: Connection, namespace_id: int, limit: int) -> int:
    """How many blobs the namespace holds, counting no further than `limit`."""
    some = select(_nsb.c.digest).where(_nsb.c.namespace_id == namespace_id).limit(limit)
    return int(conn.execute(select(func.count()).select_from(some.subquery())).scalar_one())


def has_blob(conn: Connection, namespace_id: int, digest: str) -> bool:
    """Whether some repository of the namespace links the blob already (adding it to one
    more then adds no bytes to the namespace)."""
    query = select(exists().where(_nsb.c.namespace_id == namespace_id, _nsb.c.digest == digest))
    return conn.execute(query).scalar() is True


def set_quota(
    conn: Connection, namespace_id: int, quota_bytes: int | None, by: str | None, at: int
) -> None:
    values = {"quota_bytes": quota_bytes, "quota_set_by": by, "quota_set_at": at}
    if quota_bytes is None:
        values = {"quota_bytes": None, "quota_set_by": None, "quota_set_at": None}
    conn.execute(update(_ns).where(_ns.c.id == namespace_id).values(**values))


# -- own and shared -----------------------------------------------------------------------


def _split(conn: Connection, links: Table, owner: str, owner_id: int) -> Split:
    """The blobs `links` (a link table) holds for one owner, each once; shared: also held
    by another owner. One index probe per blob on the table's digest."""
    other = links.alias("other")
    elsewhere = exists().where(other.c.digest == links.c.digest, other.c[owner] != owner_id)
    query = (
        select(
            sql_total(_blob.c.size),
            sql_total(case((elsewhere, _blob.c.size), else_=0)),
            func.count(),
            sql_total(case((elsewhere, 1), else_=0)),
        )
        .select_from(links.join(_blob, _blob.c.digest == links.c.digest))
        .where(links.c[owner] == owner_id)
    )
    total, shared, blobs, shared_blobs = (int(value or 0) for value in conn.execute(query).one())
    return Split(total, shared, blobs, shared_blobs)


def repository_split(conn: Connection, repo_id: int) -> Split:
    """The repository's blobs; shared: also linked in another repository (of any namespace)."""
    return _split(conn, _link, "repository_id", repo_id)


def namespace_split(conn: Connection, namespace_id: int) -> Split:
    """The namespace's blobs, each once; shared: also linked in another namespace."""
    return _split(conn, _nsb, "namespace_id", namespace_id)
