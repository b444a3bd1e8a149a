"""Pushing, pulling and deleting manifests."""

from __future__ import annotations

import json
from dataclasses import dataclass

import anyio
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from dockyard.metadata.queries import audit, gc_queue, repositories, tags, webhooks
from dockyard.metadata.queries import blobs as blob_queries
from dockyard.metadata.queries import manifests as manifest_queries
from dockyard.registry import diff_ids, quotas
from dockyard.registry import mediatypes as mt
from dockyard.registry.context import Absent, RegistryContext, now
from dockyard.registry.digests import algorithm_of, compute, parse_digest
from dockyard.registry.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    NameUnknown,
    Unsupported,
)
from dockyard.registry.manifest_parser import parse_manifest
from dockyard.registry.names import is_tag, namespace_of, validate_tag
from dockyard.registry.types import ManifestContent, ParsedManifest, ReferenceKind

__all__ = ["ManifestService", "PushResult", "insert_manifest", "resolve_references"]

_PARSE_INLINE_BYTES = 64 * 1024  # larger documents are parsed off the event loop
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class PushResult:
    digest: str
    subject_digest: str | None


def _is_digest(reference: str) -> bool:
    return ":" in reference


def insert_manifest(
    conn: Connection,
    repo_id: int,
    digest: str,
    payload: bytes,
    parsed: ParsedManifest,
    at: int,
    actor: str | None,
) -> int:
    """Store a parsed manifest in the repository (a push, or an undone delete); returns its
    id. Raises ManifestBlobUnknown / ManifestInvalid when what it references is missing."""
    references = resolve_references(conn, repo_id, parsed)
    manifest_id = manifest_queries.add_manifest(
        conn,
        repo_id=repo_id,
        digest=digest,
        media_type=parsed.media_type,
        artifact_type=parsed.artifact_type,
        payload=payload,
        config_digest=parsed.config.digest if parsed.config else None,
        subject_digest=parsed.subject.digest if parsed.subject else None,
        annotations=json.dumps(parsed.annotations) if parsed.annotations else None,
        references=references,
        now=at,
        actor=actor,
    )
    blob_queries.refresh_links(conn, [(repo_id, r.digest) for r in references if r.linked], at)
    return manifest_id


def resolve_references(
    conn: Connection, repo_id: int, parsed: ParsedManifest
) -> list[manifest_queries.NewReference]:
    """Check that everything the manifest needs is in the repository (pitfalls §13)."""
    refs = parsed.references()
    child_ids = manifest_queries.manifest_ids(
        conn, repo_id, [d.digest for kind, d in refs if kind is ReferenceKind.CHILD]
    )
    resolved: list[manifest_queries.NewReference] = []
    for kind, descriptor in refs:
        child_id = None
        linked = False
        if kind is ReferenceKind.CHILD:
            child_id = child_ids.get(descriptor.digest)
            if child_id is None:
                raise ManifestBlobUnknown(
                    "index lists a manifest unknown to this repository", descriptor.digest
                )
        else:
            size = blob_queries.linked_size(conn, repo_id, descriptor.digest)
            if size is None and not descriptor.is_foreign:
                raise ManifestBlobUnknown(
                    f"{kind.value} blob unknown to this repository", descriptor.digest
                )
            if size is not None and size != descriptor.size:
                raise ManifestInvalid(
                    f"{kind.value} {descriptor.digest} is {size} bytes, "
                    f"the manifest says {descriptor.size}"
                )
            linked = size is not None
        resolved.append(
            manifest_queries.NewReference(
                kind=kind.value,
                digest=descriptor.digest,
                size=descriptor.size,
                media_type=descriptor.media_type,
                linked=linked,
                child_manifest_id=child_id,
            )
        )
    return resolved


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
                previous = tags.set_tag(conn, repo_id, tag, manifest_id, digest, at, actor)
                if previous is not None:
                    gc_queue.enqueue_manifests(conn, [previous], at)
                    # a tag move: the webhook event names what the tag pointed at
                    detail["previous"] = webhooks.manifest_digest(conn, previous)
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
                tags.record_events(conn, repo_id, removed, reference, "delete", at, actor)
                digest, target, action = reference, f"{name}@{reference}", "manifest.delete"
            audit.record(
                conn, at=at, actor=actor, action=action, target=target, address=address,
                detail={"digest": digest},
            )  # fmt: skip
