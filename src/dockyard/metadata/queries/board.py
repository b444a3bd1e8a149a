"""Queries behind the environments board: the applications (names below an environment's
namespace) a caller may read, a page at a time, and what each environment's repository
holds of them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, func, select, tuple_

from dockyard.metadata.models import Manifest, Repository, Tag, table_of
from dockyard.metadata.queries._batching import chunks
from dockyard.metadata.queries.repositories import RepositoryFilter

__all__ = ["LatestTag", "applications", "count_applications", "latest_tags", "present"]

_repo = table_of(Repository)
_tag = table_of(Tag)
_man = table_of(Manifest)


@dataclass(frozen=True, slots=True)
class LatestTag:
    repository: str
    tag: str
    digest: str
    updated_at: int


def _application() -> ColumnElement[str]:
    """The name below the namespace: `shop/api` of `dev/shop/api`."""
    return func.substr(_repo.c.name, func.length(_repo.c.namespace) + 2)


def applications(
    conn: Connection,
    namespaces: Sequence[str],
    readable: RepositoryFilter,
    *,
    contains: str | None,
    offset: int,
    limit: int,
) -> list[str]:
    """Application names, in order, with a repository the caller may read in one of the
    environments' namespaces."""
    app = _application().label("application")
    query = readable.apply(select(app).where(_repo.c.namespace.in_(list(namespaces))))
    if contains:
        query = query.where(_repo.c.name.contains(contains, autoescape=True))
    query = query.group_by(app).order_by(app).offset(offset).limit(limit)
    return [str(name) for name in conn.execute(query).scalars()]


def count_applications(
    conn: Connection, namespaces: Sequence[str], readable: RepositoryFilter, contains: str | None
) -> int:
    app = _application()
    query = readable.apply(
        select(func.count(func.distinct(app))).where(_repo.c.namespace.in_(list(namespaces)))
    )
    if contains:
        query = query.where(_repo.c.name.contains(contains, autoescape=True))
    return int(conn.execute(query).scalar_one())


def latest_tags(conn: Connection, repositories: Iterable[str]) -> dict[str, LatestTag]:
    """The most recently pushed (or moved) tag of each repository, cosign's accessory tags
    left out."""
    found: dict[str, LatestTag] = {}
    for chunk in chunks(repositories):
        ranked = (
            select(
                _repo.c.name.label("repository"), _tag.c.name.label("tag"),
                _man.c.digest.label("digest"), _tag.c.updated_at.label("updated_at"),
                func.row_number().over(
                    partition_by=_tag.c.repository_id,
                    order_by=(_tag.c.updated_at.desc(), _tag.c.id.desc()),
                ).label("rank"),
            )
            .join(_repo, _repo.c.id == _tag.c.repository_id)
            .join(_man, _man.c.id == _tag.c.manifest_id)
            .where(_repo.c.name.in_(chunk), _tag.c.name.not_like("sha256-%"))
            .subquery()
        )  # fmt: skip
        query = select(ranked.c.repository, ranked.c.tag, ranked.c.digest, ranked.c.updated_at)
        for row in conn.execute(query.where(ranked.c.rank == 1)):
            found[row.repository] = LatestTag(row.repository, row.tag, row.digest,
                                              int(row.updated_at))  # fmt: skip
    return found


def present(conn: Connection, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (repository, digest) pairs the registry holds."""
    found: set[tuple[str, str]] = set()
    for chunk in chunks(list(dict.fromkeys(pairs))):
        query = (
            select(_repo.c.name, _man.c.digest)
            .join(_repo, _repo.c.id == _man.c.repository_id)
            .where(tuple_(_repo.c.name, _man.c.digest).in_(chunk))
        )
        found.update((str(name), str(digest)) for name, digest in conn.execute(query))
    return found
