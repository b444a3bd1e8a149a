"""What the console shows of a repository and of one image (issue 4, screens 5 and 6).

A repository page lists its tags with digest, size, top layer, platforms, who pushed and
when, and every other tag (here or in another readable repository) on the same image: the
spec's nested tags. A tag has its history. An image page reads the manifest and its config:
labels, annotations, the container config, layers with the build step that made each, the
platforms of an index, and its accessories (referrers, cosign's `sha256-<hex>.sig` tags and
BuildKit's attestation entries), which are shown under their subject, never as tags or
platforms.

Only readers of a repository see it; anything else is "not found" (no existence oracle).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from dockyard.auth.errors import NotFound
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import readable, role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.metadata.queries import images as queries
from dockyard.metadata.queries import tag_follows as follow_queries
from dockyard.metadata.queries.images import ImageTag, TagEventRow, TagSort
from dockyard.metadata.queries.repositories import repository_id
from dockyard.metadata.queries.repository_details import RepositoryRow, repository_detail
from dockyard.registry import mediatypes as mt
from dockyard.registry.errors import RegistryError
from dockyard.registry.image_config import (
    CONFIG_TYPES,
    MAX_CONFIG_BYTES,
    HistoryEntry,
    ImageConfig,
    parse_image_config,
)
from dockyard.registry.immutability import protected_tags
from dockyard.registry.manifest_parser import parse_manifest
from dockyard.registry.types import Descriptor, ParsedManifest
from dockyard.storage.base import StorageError

__all__ = [
    "TAG_PAGE_SIZE",
    "Accessory",
    "ImageDetail",
    "ImageTag",
    "LayerView",
    "Platform",
    "RepositoryPage",
    "TagDetail",
    "TagSort",
    "TagView",
    "digests_of_tags",
    "image_detail",
    "repository_page",
    "tag_detail",
]

TAG_PAGE_SIZE = 100
_NESTED_TAG_LIMIT = 2000  # other tags on the page's images, in all
_HISTORY_LIMIT = 200
_ATTESTATION_TYPE = "vnd.docker.reference.type"
_ATTESTATION_SUBJECT = "vnd.docker.reference.digest"
_EMPTY = ParsedManifest(mt.OCI_INDEX, None, None, (), (), None, None)
_LINK_LABELS = (
    "org.opencontainers.image.source",
    "org.opencontainers.image.url",
    "org.opencontainers.image.documentation",
    "org.label-schema.vcs-url",
    "org.label-schema.url",
)


@dataclass(frozen=True, slots=True)
class TagView:
    name: str
    digest: str
    kind: str  # "image", "index" or "artifact"
    size: int
    top_layer: str | None
    platforms: tuple[str, ...]
    updated_at: int
    pushed_by: str | None
    immutable: bool
    accessories: int
    also: tuple[ImageTag, ...]  # other tags on the same image, here and elsewhere
    last_pulled_at: int | None  # by this tag (batched: up to a quarter minute behind)
    follows: str | None = None  # `repository:tag` this tag follows (registry.tag_follows)


@dataclass(frozen=True, slots=True)
class RepositoryPage:
    repository: RepositoryRow
    role: Role
    tags: tuple[TagView, ...]
    total: int
    sort: TagSort
    offset: int
    page_size: int

    @property
    def next_offset(self) -> int | None:
        after = self.offset + len(self.tags)
        return after if after < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(self.offset - self.page_size, 0) if self.offset > 0 else None


@dataclass(frozen=True, slots=True)
class TagDetail:
    repository: str
    tag: str
    digest: str | None  # None: the tag is gone (its history remains)
    role: Role
    history: tuple[TagEventRow, ...]
    also: tuple[ImageTag, ...]


@dataclass(frozen=True, slots=True)
class LayerView:
    digest: str
    size: int
    media_type: str
    diff_id: str | None
    step: HistoryEntry | None  # the history entry that made it


@dataclass(frozen=True, slots=True)
class Platform:
    digest: str
    platform: str
    size: int
    media_type: str
    attestation: str | None  # digest of BuildKit's attestation manifest for it


@dataclass(frozen=True, slots=True)
class Accessory:
    digest: str
    what: str  # "signature", "attestation", "SBOM" or the artifact type
    via: str  # "referrer", "cosign tag" or "attestation entry"
    tag: str | None


@dataclass(frozen=True, slots=True)
class ImageDetail:
    repository: str
    digest: str
    media_type: str
    kind: str
    artifact_type: str | None
    size: int  # the manifest document's own size
    content_size: int  # config + layers (for an index: its platforms')
    created_at: int
    pushed_by: str | None
    role: Role
    image_id: str | None
    tags: tuple[ImageTag, ...]  # every readable repository:tag on this digest
    annotations: dict[str, str]
    config: ImageConfig | None
    config_note: str | None  # why there is no config to show, if there is none
    links: tuple[tuple[str, str], ...]  # (label, http(s) URL)
    layers: tuple[LayerView, ...]
    platforms: tuple[Platform, ...]
    accessories: tuple[Accessory, ...]
    subject: str | None  # this is an accessory of that digest
    indexes: tuple[str, ...]  # indexes in this repository that list it


def _readable_role(snapshot: AccessSnapshot, caller: Principal, name: str) -> Role:
    role = role_on(snapshot, caller, name)
    if role is None:
        raise NotFound(f"repository {name} not found")
    return role


def _kind(media_type: str, artifact_type: str | None) -> str:
    if media_type in mt.INDEX_TYPES:
        return "index"
    return "artifact" if artifact_type else "image"


def _parsed(payload: bytes, media_type: str) -> ParsedManifest | None:
    try:
        return parse_manifest(payload, media_type)
    except RegistryError:  # stored before a stricter rule: show what the row knows
        return None


def _is_attestation(descriptor: Descriptor) -> bool:
    return (descriptor.annotations or {}).get(_ATTESTATION_TYPE) == "attestation-manifest"


def _platform_text(platform: dict[str, object] | None) -> str:
    if not platform:
        return "unknown"
    parts = [str(platform.get("os") or "?"), str(platform.get("architecture") or "?")]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def _platforms(parsed: ParsedManifest | None) -> list[Platform]:
    if parsed is None:
        return []
    attestations = {
        (entry.annotations or {}).get(_ATTESTATION_SUBJECT): entry.digest
        for entry in parsed.manifests
        if _is_attestation(entry)
    }
    return [
        Platform(
            digest=entry.digest,
            platform=_platform_text(entry.platform),
            size=entry.size,
            media_type=entry.media_type,
            attestation=attestations.get(entry.digest),
        )
        for entry in parsed.manifests
        if not _is_attestation(entry) and entry.media_type in mt.MANIFEST_TYPES
    ]


# --- repository page ------------------------------------------------------------------------


def repository_page(
    ctx: ManageContext, caller: Principal, name: str, sort: TagSort, offset: int
) -> RepositoryPage:
    snapshot = ctx.snapshot()
    role = _readable_role(snapshot, caller, name)
    with ctx.db.read() as conn:
        repository = repository_detail(conn, name)
        if repository is None:
            raise NotFound(f"repository {name} not found")
        rows = queries.tag_page(conn, repository.id, sort, max(offset, 0), TAG_PAGE_SIZE)
        total = queries.count_tags(conn, repository.id)
        index_ids = [row.manifest_id for row in rows if row.media_type in mt.INDEX_TYPES]
        index_payloads = queries.payloads(conn, index_ids)
        index_sizes = queries.child_sizes(conn, index_ids)
        nested = queries.tags_on_digests(
            conn, [row.digest for row in rows], readable(snapshot, caller), _NESTED_TAG_LIMIT
        )
        locked = {hit.tag for hit in protected_tags(conn, ((name, row.name) for row in rows))}
        follows = follow_queries.following(conn, name, [row.name for row in rows])
    tags = []
    for row in rows:
        platforms: tuple[str, ...] = ()
        size = row.size
        if row.manifest_id in index_payloads:
            parsed = _parsed(index_payloads[row.manifest_id], row.media_type)
            platforms = tuple(platform.platform for platform in _platforms(parsed))
            size = index_sizes.get(row.manifest_id, 0)
        itself = ImageTag(name, row.name)
        also = tuple(tag for tag in nested.get(row.digest, ()) if tag != itself)
        tags.append(
            TagView(
                name=row.name,
                digest=row.digest,
                kind=_kind(row.media_type, row.artifact_type),
                size=size,
                top_layer=row.top_layer,
                platforms=platforms,
                updated_at=row.updated_at,
                pushed_by=row.pushed_by,
                immutable=row.immutable or row.name in locked,
                accessories=row.accessories,
                also=also,
                last_pulled_at=row.last_pulled_at,
                follows=_followed(follows.get(row.name)),
            )
        )
    return RepositoryPage(repository, role, tuple(tags), total, sort, offset, TAG_PAGE_SIZE)


def _followed(row: follow_queries.FollowRow | None) -> str | None:
    return None if row is None else f"{row.source_repository}:{row.source_tag}"


def tag_detail(ctx: ManageContext, caller: Principal, name: str, tag: str) -> TagDetail:
    snapshot = ctx.snapshot()
    role = _readable_role(snapshot, caller, name)
    with ctx.db.read() as conn:
        repo_id = repository_id(conn, name)
        if repo_id is None:
            raise NotFound(f"repository {name} not found")
        history = queries.tag_history(conn, repo_id, tag, _HISTORY_LIMIT)
        current = queries.current_tag_digest(conn, repo_id, tag)
        if current is None and not history:
            raise NotFound(f"tag {tag} not found in {name}")
        nested = (
            queries.tags_on_digests(conn, [current], readable(snapshot, caller), 500)
            if current
            else {}
        )
    itself = ImageTag(name, tag)
    also = tuple(other for other in nested.get(current or "", ()) if other != itself)
    return TagDetail(name, tag, current, role, tuple(history), also)


def digests_of_tags(ctx: ManageContext, caller: Principal, name: str, tags: list[str]) -> list[str]:
    """The digests the tags point at (each once, in the tags' order); missing tags skipped."""
    _readable_role(ctx.snapshot(), caller, name)
    found: list[str] = []
    with ctx.db.read() as conn:
        repo_id = repository_id(conn, name)
        if repo_id is None:
            raise NotFound(f"repository {name} not found")
        for tag in tags:
            digest = queries.current_tag_digest(conn, repo_id, tag)
            if digest is not None and digest not in found:
                found.append(digest)
    return found


# --- image page -----------------------------------------------------------------------------


def _read_config(ctx: ManageContext, digest: str, size: int) -> tuple[ImageConfig | None, str]:
    if ctx.store is None or size > MAX_CONFIG_BYTES:
        return None, "The image config is too large to show."
    try:
        with ctx.store.open_blob(digest) as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except (OSError, StorageError):
        return None, "The image config could not be read from storage."
    config = parse_image_config(data)
    if config is None:
        return None, "The image config is not a JSON object."
    return config, ""


def _links(config: ImageConfig | None, annotations: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Label and annotation values that are http(s) URLs: anything else (javascript:, data:)
    is shown as text only."""
    found: dict[str, str] = {}
    for source in (annotations, config.labels if config else {}):
        for key in _LINK_LABELS:
            value = source.get(key, "").strip()
            parts = urlsplit(value)
            if parts.scheme in ("http", "https") and parts.netloc and key not in found:
                found[key] = value
    return tuple(found.items())


def _accessory_kind(artifact_type: str | None, tag: str | None = None) -> str:
    text = (artifact_type or "").lower()
    if tag is not None:
        return {".sig": "signature", ".att": "attestation", ".sbom": "SBOM"}.get(
            tag[tag.rfind(".") :], "accessory"
        )
    if "signature" in text or "cosign" in text or "notary" in text:
        return "signature"
    if "spdx" in text or "cyclonedx" in text or "sbom" in text:
        return "SBOM"
    if "in-toto" in text or "attestation" in text or "provenance" in text:
        return "attestation"
    return artifact_type or "artifact"


def image_detail(ctx: ManageContext, caller: Principal, name: str, digest: str) -> ImageDetail:
    snapshot = ctx.snapshot()
    role = _readable_role(snapshot, caller, name)
    with ctx.db.read() as conn:
        repo_id = repository_id(conn, name)
        row = queries.manifest_detail(conn, repo_id, digest) if repo_id is not None else None
        if repo_id is None or row is None:
            raise NotFound(f"manifest {digest} not found in {name}")
        references = queries.manifest_references(conn, row.id)
        tags = queries.tags_on_digests(conn, [digest], readable(snapshot, caller), 500)
        referrers = queries.referrer_rows(conn, repo_id, digest)
        cosign = queries.accessory_tag_names(conn, repo_id, digest)
        parents = queries.parent_indexes(conn, row.id, digest)
        child_sizes = queries.child_sizes(conn, [row.id])
    parsed = _parsed(row.payload, row.media_type)
    annotations = dict(parsed.annotations or {}) if parsed else {}
    kind = _kind(row.media_type, row.artifact_type)
    config: ImageConfig | None = None
    note: str | None = None
    config_ref = next((ref for ref in references if ref.kind == "config"), None)
    if config_ref is not None and config_ref.media_type in CONFIG_TYPES:
        config, reason = _read_config(ctx, config_ref.digest, config_ref.size)
        note = reason or None
    elif config_ref is not None:
        note = f"The config is a {config_ref.media_type}, not an image config."
    steps = config.layer_history() if config else []
    diff_ids = config.diff_ids if config else ()
    layer_refs = [ref for ref in references if ref.kind == "layer"]
    layers = tuple(
        LayerView(
            digest=ref.digest,
            size=ref.size,
            media_type=ref.media_type,
            diff_id=diff_ids[i] if i < len(diff_ids) else None,
            step=steps[i] if i < len(steps) else None,
        )
        for i, ref in enumerate(layer_refs)
    )
    accessories = [
        Accessory(ref_digest, _accessory_kind(artifact), "referrer", None)
        for ref_digest, artifact in referrers
    ]
    accessories += [
        Accessory(target, _accessory_kind(None, tag), "cosign tag", tag) for tag, target in cosign
    ]
    subject = row.subject_digest
    for parent in parents:
        for entry in (_parsed(parent.payload, parent.media_type) or _EMPTY).manifests:
            if not _is_attestation(entry):
                continue
            named = (entry.annotations or {}).get(_ATTESTATION_SUBJECT)
            if named == digest:
                accessories.append(
                    Accessory(entry.digest, "attestation", "attestation entry", None)
                )
            elif entry.digest == digest and subject is None:
                subject = named
    content_size = sum(ref.size for ref in references if ref.kind in ("config", "layer"))
    if kind == "index":
        content_size = child_sizes.get(row.id, 0)
    return ImageDetail(
        repository=name,
        digest=row.digest,
        media_type=row.media_type,
        kind=kind,
        artifact_type=row.artifact_type,
        size=row.size,
        content_size=content_size,
        created_at=row.created_at,
        pushed_by=row.pushed_by,
        role=role,
        image_id=row.config_digest,
        tags=tuple(tags.get(digest, ())),
        annotations=annotations,
        config=config,
        config_note=note,
        links=_links(config, annotations),
        layers=layers,
        platforms=tuple(_platforms(parsed)) if kind == "index" else (),
        accessories=tuple(accessories),
        subject=subject,
        indexes=tuple(parent.digest for parent in parents),
    )
