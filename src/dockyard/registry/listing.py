"""Tag lists, the catalog and referrers."""

from __future__ import annotations

import json

import anyio

from dockyard.metadata.queries import manifests as manifest_queries
from dockyard.metadata.queries import repositories, tags
from dockyard.metadata.queries.repositories import RepositoryFilter
from dockyard.registry import mediatypes as mt
from dockyard.registry.context import RegistryContext
from dockyard.registry.digests import parse_digest
from dockyard.registry.errors import NameUnknown

__all__ = ["REFERRERS_PAGE", "ListingService"]

REFERRERS_PAGE = 1000


class ListingService:
    def __init__(self, ctx: RegistryContext) -> None:
        self._ctx = ctx

    def page_size(self, n: int | None) -> int:
        """`n` capped (distribution's CVE-2023-2253 was a huge `n`); None means the cap."""
        limit = self._ctx.limits.max_page_size
        return limit if n is None else max(0, min(n, limit))

    def _tags(self, name: str, last: str | None, limit: int) -> list[str]:
        with self._ctx.db.read() as conn:
            repo_id = repositories.repository_id(conn, name)
            if repo_id is None:
                raise NameUnknown("repository name not known to registry", name)
            return tags.tag_names(conn, repo_id, last, limit) if limit else []

    async def tags(self, name: str, n: int | None, last: str | None) -> tuple[list[str], bool]:
        """A page of tags in byte order, and whether more follow."""
        limit = self.page_size(n)
        names = await anyio.to_thread.run_sync(self._tags, name, last, limit + 1 if limit else 0)
        return names[:limit], len(names) > limit

    def _catalog(self, last: str | None, limit: int, readable: RepositoryFilter) -> list[str]:
        with self._ctx.db.read() as conn:
            return repositories.repository_names(conn, last, limit, readable)

    async def catalog(
        self, n: int | None, last: str | None, readable: RepositoryFilter
    ) -> tuple[list[str], bool]:
        """A page of the repositories `readable` lets the caller see, and whether more follow."""
        limit = self.page_size(n)
        if limit == 0:
            return [], False
        names = await anyio.to_thread.run_sync(self._catalog, last, limit + 1, readable)
        return names[:limit], len(names) > limit

    def _referrers(
        self, name: str, subject: str, artifact_type: str | None, after: str | None, limit: int
    ) -> list[manifest_queries.ReferrerRow]:
        with self._ctx.db.read() as conn:
            repo_id = repositories.repository_id(conn, name)
            if repo_id is None:
                return []
            return manifest_queries.referrers(conn, repo_id, subject, artifact_type, after, limit)

    async def referrers(
        self, name: str, subject: str, artifact_type: str | None, after: str | None = None
    ) -> tuple[bytes, str | None]:
        """An image index of the manifests whose subject is `subject` (empty if none), and
        the last digest listed when more follow.

        OCI dist-spec §Listing Referrers: an image manifest without `artifactType` is listed
        with its config's media type; annotations are copied. Pages stay far below the 4 MiB
        a client reads (pitfalls §11).
        """
        parse_digest(subject)
        rows = await anyio.to_thread.run_sync(
            self._referrers, name, subject, artifact_type, after, REFERRERS_PAGE + 1
        )
        more = len(rows) > REFERRERS_PAGE
        rows = rows[:REFERRERS_PAGE]
        descriptors = []
        for row in rows:
            descriptor: dict[str, object] = {
                "mediaType": row.media_type,
                "digest": row.digest,
                "size": row.size,
            }
            kind = row.artifact_type or row.config_media_type
            if kind:
                descriptor["artifactType"] = kind
            if row.annotations:
                descriptor["annotations"] = json.loads(row.annotations)
            descriptors.append(descriptor)
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": descriptors}
        body = json.dumps(index, separators=(",", ":")).encode()
        return body, rows[-1].digest if more else None
