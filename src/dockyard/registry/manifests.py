"""Pushing, pulling and deleting manifests."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from dockyard.metadata.queries import audit, gc_queue, repositories, tags, webhooks
from dockyard.metadata.queries import manifests as manifest_queries
from dockyard.registry import diff_ids, immutability, quotas, tag_follows
from dockyard.registry import mediatypes as mt
from dockyard.registry.context import Absent, RegistryContext, now
from dockyard.registry.digests import algorithm_of, compute, parse_digest
from dockyard.registry.errors import (
    DigestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    NameUnknown,
    TagImmutable,
    Unsupported,
)
from dockyard.registry.manifest_parser import parse_manifest
from dockyard.registry.manifest_rows import insert_manifest, point_tag
from dockyard.registry.names import is_tag, namespace_of, validate_tag
from dockyard.registry.types import ManifestContent, ParsedManifest

__all__ = ["ManifestService", "PushResult"]

_PARSE_INLINE_BYTES = 64 * 1024  # larger documents are parsed off the event loop
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class PushResult:
    digest: str
    subject_digest: str | None


def _is_digest(reference: str) -> bool:
    return ":" in reference


class ManifestService:
    def __init__(self, ctx: RegistryContext) -> None:
        self._ctx = ctx

    @property
    def max_bytes(self) -> int:
        return self._ctx.limits.max_manifest_bytes

    # -- pull -------------------------------------------------------------------------

    def _load(self, name: str, reference: str) -> ManifestContent | Absent:
        with self._ctx.db.read() as conn:
            repo_id = repositories.repository_id(conn, name)
            if repo_id is None:
                return Absent.REPOSITORY
            if _is_digest(reference):
                row = manifest_queries.manifest_by_digest(conn, repo_id, reference)
            else:
                row = manifest_queries.manifest_by_tag(conn, repo_id, reference)
            touched = gc_queue.review_touched(conn, row.id) if row is not None else None
        if row is None:
            return Absent.MANIFEST
        return ManifestContent(row.digest, row.media_type, row.payload, touched)

    async def get(
        self, name: str, reference: str, accepted: frozenset[str] | None
    ) -> ManifestContent:
        """The manifest as pushed, byte for byte.

        By digest the stored bytes are served whatever the client accepts; by tag, a type
        the client did not ask for is "unknown" to it, never converted (pitfalls §2).
        """
        if _is_digest(reference):
            parse_digest(reference)
        elif not is_tag(reference):
            # Nothing can be stored under an invalid tag, so it is simply unknown.
            raise ManifestUnknown("manifest unknown to registry", reference)
        content = await self._ctx.manifests.get_or_load(
            (name, reference), lambda: self._load(name, reference)
        )
        if content is Absent.REPOSITORY:
            raise NameUnknown("repository name not known to registry", name)
        if isinstance(content, Absent):
            raise ManifestUnknown("manifest unknown to registry", reference)
        if not _is_digest(reference) and not mt.acceptable(content.media_type, accepted):
            raise ManifestUnknown(
                f"manifest is {content.media_type}, which the client does not accept", reference
            )
        window = self._ctx.limits.in_flight_seconds
        touched = content.review_touched
        if touched is not None and window > 0 and touched < now() - window // 2:
            # Fetched by digest while nothing keeps it: an index being pushed may list it
            # (pitfalls §15, for manifests). Renewed before we answer, as for a blob HEAD.
            renewed = await anyio.to_thread.run_sync(self._touch, name, content.digest)
            if not renewed:
                raise ManifestUnknown("manifest unknown to registry", reference)
        return content

    def _touch(self, name: str, digest: str) -> bool:
        with self._ctx.db.write() as conn:
            return gc_queue.touch_manifest(conn, name, digest, now())

    # -- push -------------------------------------------------------------------------

    async def put(
        self,
        name: str,
        reference: str,
        payload: bytes,
        content_type: str | None,
        actor: str | None,
        address: str | None = None,
    ) -> PushResult:
        if len(payload) > self._ctx.limits.max_manifest_bytes:
            raise ManifestTooLarge(
                f"manifest larger than {self._ctx.limits.max_manifest_bytes} bytes"
            )
        if _is_digest(reference):
            parse_digest(reference)
            digest = compute(payload, algorithm_of(reference))
            if digest != reference:
                raise DigestInvalid(f"manifest digest is {digest}, not {reference}", reference)
        else:
            validate_tag(reference)
            digest = compute(payload)
        if len(payload) > _PARSE_INLINE_BYTES:
            parsed = await anyio.to_thread.run_sync(parse_manifest, payload, content_type)
        else:
            parsed = parse_manifest(payload, content_type)
        tag = None if _is_digest(reference) else reference
        await anyio.to_thread.run_sync(
            self._store, name, digest, payload, parsed, tag, actor, address
        )
        subject = parsed.subject.digest if parsed.subject else None
        return PushResult(digest, subject)

    def _store(
        self,
        name: str,
        digest: str,
        payload: bytes,
        parsed: ParsedManifest,
        tag: str | None,
        actor: str | None,
        address: str | None,
    ) -> None:
        # Read before the write transaction: no file I/O under the write lock.
        pending = diff_ids.read_for_push(self._ctx.db, self._ctx.store, parsed.config)
        for attempt in range(_ATTEMPTS):
            try:
                self._insert(name, digest, payload, parsed, tag, actor, address, pending)
                return
            except IntegrityError:
                # Garbage collection removed a manifest this one lists, or this very
                # manifest, while we wrote (PostgreSQL: the foreign key stopped us). Once
                # more from the start: the references are then checked afresh.
                if attempt == _ATTEMPTS - 1:
                    raise

    def _insert(
        self,
        name: str,
        digest: str,
        payload: bytes,
        parsed: ParsedManifest,
        tag: str | None,
        actor: str | None,
        address: str | None,
        pending: diff_ids.PendingDiffIds | None,
    ) -> None:
        at = now()
        with self._ctx.db.write() as conn:
            repo_id = repositories.ensure_repository(conn, name, namespace_of(name), at)
            quotas.check_manifest(conn, name, repo_id, digest)
            manifest_id = insert_manifest(conn, repo_id, digest, payload, parsed, at, actor)
            diff_ids.record(conn, pending)
            detail: dict[str, str | None] = {"digest": digest}
            if tag is None:
                # Nothing names it (yet): a later index or tag may, else GC takes it.
                gc_queue.enqueue_manifests(conn, [manifest_id], at, touched_at=at)
            else:
                previous = point_tag(conn, repo_id, name, tag, manifest_id, digest, at, actor)
                if previous is not None:
                    gc_queue.enqueue_manifests(conn, [previous], at)
                    # a tag move: the webhook event names what the tag pointed at
                    detail["previous"] = webhooks.manifest_digest(conn, previous)
                tag_follows.propagate(conn, name, tag, at, actor)
            repositories.mark_pushed(conn, repo_id, at)
            target = f"{name}:{tag}" if tag else f"{name}@{digest}"
            audit.record(
                conn, at=at, actor=actor, action="manifest.push", target=target,
                address=address, detail=detail,
            )  # fmt: skip

    # -- delete -----------------------------------------------------------------------

    async def delete(
        self, name: str, reference: str, actor: str | None, address: str | None = None
    ) -> None:
        """By tag: remove only that tag. By digest: the manifest and every tag on it."""
        if _is_digest(reference):
            parse_digest(reference)
        elif not is_tag(reference):
            raise ManifestUnknown("manifest unknown to registry", reference)
        await anyio.to_thread.run_sync(self._delete, name, reference, actor, address)

    def _delete(self, name: str, reference: str, actor: str | None, address: str | None) -> None:
        at = now()
        with self._ctx.db.write() as conn:
            repo_id = repositories.repository_id(conn, name)
            if repo_id is None:
                raise NameUnknown("repository name not known to registry", name)
            if not _is_digest(reference):
                digest = tags.delete_tag(conn, repo_id, reference)
                if digest is None:
                    raise ManifestUnknown("tag unknown to registry", reference)
                _refuse_immutable(conn, name, [reference])  # raising rolls the delete back
                untagged = manifest_queries.manifest_ids(conn, repo_id, [digest])
                gc_queue.enqueue_manifests(conn, untagged.values(), at)
                tags.record_events(conn, repo_id, [reference], digest, "delete", at, actor)
                target = f"{name}:{reference}"
                action = "tag.delete"
            else:
                row = manifest_queries.manifest_by_digest(conn, repo_id, reference)
                if row is None:
                    raise ManifestUnknown("manifest unknown to registry", reference)
                parents = manifest_queries.parents_of(conn, row.id)
                if parents:
                    raise Unsupported(
                        f"manifest is listed by index {parents[0]}; delete the index first",
                        {"indexes": parents},
                    )
                gc_queue.manifests_going(conn, [row.id], at)
                removed = manifest_queries.delete_manifest(conn, row.id)
                _refuse_immutable(conn, name, removed)
                tags.record_events(conn, repo_id, removed, reference, "delete", at, actor)
                digest, target, action = reference, f"{name}@{reference}", "manifest.delete"
            audit.record(
                conn, at=at, actor=actor, action=action, target=target, address=address,
                detail={"digest": digest},
            )  # fmt: skip


def _refuse_immutable(conn: Connection, name: str, tag_names: list[str]) -> None:
    hits = immutability.protected_tags(conn, [(name, tag) for tag in tag_names])
    if hits:
        raise TagImmutable(hits[0].message, {"tag": hits[0].tag, "rule": hits[0].rule.id})
