"""Pull-through caches: a namespace that serves what its upstream registries hold.

`cache/library/alpine:3.20` in a namespace `cache` caching Docker Hub is the upstream's
`library/alpine:3.20`. Upstreams are tried in order; the first that has the content
serves it.

- The bytes are the upstream's, never converted: the manifest's digest is the upstream's
  digest, and so are the signatures that name it (cosign's `sha256-….sig` tags are pulled
  through like any tag).
- A tag is checked upstream (a HEAD) at most every `tag_check_seconds`; a digest never is:
  what is stored is served. When every upstream is down, times out or rate-limits, what is
  cached is served, and only what is not cached fails (503, which clients retry).
- A blob a client asks for and the cache lacks is fetched once for every client asking at
  once (flights.py); each is served while it is cached.
- A manifest is stored once everything it references is stored: the cache completes it in
  the background (an image's blobs, an index's every platform), then stores it through the
  push path, so quotas, immutable tags, tag history, webhooks and garbage collection see a
  cached image exactly as a pushed one. Until then it is served from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import anyio

from dockyard.registry import mediatypes as mt
from dockyard.registry.blobs import BlobService
from dockyard.registry.errors import (
    BlobUnknown,
    ManifestUnknown,
    NameUnknown,
    UpstreamFailed,
)
from dockyard.registry.manifest_parser import parse_manifest
from dockyard.registry.manifests import ManifestService
from dockyard.registry.names import namespace_of
from dockyard.registry.types import ManifestContent, ReferenceKind
from dockyard.registry.uploads import UploadService
from dockyard.registry.upstream.client import (
    Upstream,
    UpstreamClient,
    UpstreamError,
    UpstreamManifest,
    UpstreamNotFound,
)
from dockyard.registry.upstream.flights import BlobFlights, Flight

__all__ = ["CacheRule", "ProxiedBlob", "PullThrough"]

_log = logging.getLogger("dockyard.registry")
_REMEMBERED = 4096
_CLIENT_SECONDS = 300  # saved upstreams are read again this often (credentials change)
_SPOOL_READ = 1024 * 1024
_STALE_SPOOL_SECONDS = 86_400  # no flight lasts a day; a younger directory may be in use


@dataclass(frozen=True, slots=True)
class CacheRule:
    namespace: str
    upstreams: tuple[str, ...]  # names of saved upstream registries, tried in order
    tag_check_seconds: int = 60


@dataclass(frozen=True, slots=True)
class ProxiedBlob:
    size: int | None
    chunks: AsyncIterator[bytes] | None  # None for a HEAD


K = TypeVar("K")
V = TypeVar("V")


class _Remembered(Generic[K, V]):
    """A bounded map, oldest out first."""

    def __init__(self) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > _REMEMBERED:
            self._items.popitem(last=False)


class PullThrough:
    def __init__(
        self,
        rules: list[CacheRule],
        resolve: Callable[[str], Upstream],
        *,
        manifests: ManifestService,
        blobs: BlobService,
        uploads: UploadService,
        spool_dir: Path,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._rules = {rule.namespace: rule for rule in rules}
        self._resolve = resolve
        self._manifests = manifests
        self._blobs = blobs
        self._uploads = uploads
        # a directory per process: what a stopped process left is removed by the next start
        _remove_stale_spools(spool_dir)
        self._flights = BlobFlights(spool_dir / uuid.uuid4().hex)
        self._timeout = timeout_seconds
        self._clients: dict[str, tuple[UpstreamClient, float]] = {}
        self._checked: _Remembered[tuple[str, str], tuple[str, float]] = _Remembered()
        self._fetched: _Remembered[tuple[str, str], UpstreamManifest] = _Remembered()
        self._completing: dict[tuple[str, str, str | None], asyncio.Task[None]] = {}

    def covers(self, name: str) -> CacheRule | None:
        """The cache rule of `name`'s namespace (a cached repository has a path below it)."""
        return self._rules.get(namespace_of(name)) if "/" in name else None

    async def aclose(self) -> None:
        for task in list(self._completing.values()):
            task.cancel()
        await self._flights.aclose()
        for client, _ in self._clients.values():
            await client.aclose()

    # -- manifests --------------------------------------------------------------------

    async def manifest(
        self, rule: CacheRule, name: str, reference: str, accepted: frozenset[str] | None
    ) -> ManifestContent:
        local = await self._local_manifest(name, reference, accepted)
        by_digest = ":" in reference
        if local is not None and (by_digest or self._fresh(rule, name, reference, local.digest)):
            return local
        try:
            upstream, fetched = await self._fetch_manifest(rule, name, reference, local)
        except UpstreamNotFound as exc:
            if local is not None:
                return local  # a cache keeps what it has; retention and deletes remove it
            raise ManifestUnknown(str(exc), reference) from exc
        except UpstreamError as exc:
            if local is not None:
                _log.warning("upstream down; serving the cached manifest",
                             extra={"fields": {"repository": name, "error": str(exc)}})  # fmt: skip
                return local
            raise UpstreamFailed(str(exc), reference) from exc
        if local is not None and local.digest == fetched.digest:
            self._checked.put((name, reference), (fetched.digest, time.monotonic()))
            return local
        self._fetched.put((name, fetched.digest), fetched)
        self._complete_later(upstream, name, fetched, None if by_digest else reference)
        if not by_digest and not mt.acceptable(fetched.media_type, accepted):
            raise ManifestUnknown(
                f"manifest is {fetched.media_type}, which the client does not accept", reference
            )
        return ManifestContent(fetched.digest, fetched.media_type, fetched.payload, None)

    async def _local_manifest(
        self, name: str, reference: str, accepted: frozenset[str] | None
    ) -> ManifestContent | None:
        try:
            return await self._manifests.get(name, reference, accepted)
        except (ManifestUnknown, NameUnknown):
            return None

    def _fresh(self, rule: CacheRule, name: str, tag: str, digest: str) -> bool:
        checked = self._checked.get((name, tag))
        return (
            checked is not None
            and checked[0] == digest
            and time.monotonic() - checked[1] < rule.tag_check_seconds
        )

    async def _fetch_manifest(
        self, rule: CacheRule, name: str, reference: str, local: ManifestContent | None
    ) -> tuple[Upstream, UpstreamManifest]:
        """The manifest from the first upstream that has it. A tag whose upstream digest
        is the cached one costs a HEAD only."""
        remote = _upstream_path(name)
        errors: list[UpstreamError] = []
        for upstream_name in rule.upstreams:
            try:
                client = await self._client(upstream_name)
                if ":" not in reference:
                    digest = await client.manifest_digest(remote, reference)
                    if local is not None and digest == local.digest:
                        return client.upstream, UpstreamManifest(
                            local.digest, local.media_type, local.payload
                        )
                    reference_now = digest
                else:
                    reference_now = reference
                remembered = self._fetched.get((name, reference_now))
                if remembered is not None:
                    return client.upstream, remembered
                return client.upstream, await client.manifest(remote, reference_now)
            except UpstreamError as exc:
                errors.append(exc)
        raise _worst(errors)

    def _complete_later(
        self, upstream: Upstream, name: str, fetched: UpstreamManifest, tag: str | None
    ) -> None:
        key = (name, fetched.digest, tag)
        if key in self._completing:
            return
        task = asyncio.create_task(self._complete_and_store(upstream, name, fetched, tag))
        self._completing[key] = task
        task.add_done_callback(lambda _: self._completing.pop(key, None))

    async def _complete_and_store(
        self, upstream: Upstream, name: str, fetched: UpstreamManifest, tag: str | None
    ) -> None:
        try:
            await self._complete(upstream, name, fetched, tag)
            if tag is not None:
                self._checked.put((name, tag), (fetched.digest, time.monotonic()))
        except Exception as exc:  # logged: the next pull tries again
            _log.warning(
                "pull-through cache could not store a manifest",
                extra={"fields": {"repository": name, "digest": fetched.digest, "error": str(exc)}},
            )

    async def _complete(
        self, upstream: Upstream, name: str, fetched: UpstreamManifest, tag: str | None
    ) -> None:
        """Store everything the manifest references, then the manifest (and its tag)."""
        parsed = parse_manifest(fetched.payload, fetched.media_type or None)
        client = await self._client(upstream.name)
        remote = _upstream_path(name)
        for kind, descriptor in parsed.references():
            if kind is ReferenceKind.CHILD:
                if await self._local_manifest(name, descriptor.digest, None) is None:
                    child = self._fetched.get((name, descriptor.digest))
                    if child is None:
                        child = await client.manifest(remote, descriptor.digest)
                    await self._complete(upstream, name, child, None)
            elif not descriptor.is_foreign and not await self._has_blob(name, descriptor.digest):
                flight = await self._fly(client, name, descriptor.digest)
                await flight.stored.wait()
                if flight.error is not None:
                    raise flight.error
        actor = f"pull-through:{upstream.name}"
        await self._manifests.put(
            name, tag or fetched.digest, fetched.payload, fetched.media_type or None, actor
        )

    # -- tags ---------------------------------------------------------------------------

    async def tags(self, rule: CacheRule, name: str) -> list[str] | None:
        """The tags of the first upstream that has the repository; None when none answers
        (the caller lists what is cached)."""
        for upstream_name in rule.upstreams:
            try:
                client = await self._client(upstream_name)
                return await client.tags(_upstream_path(name))
            except UpstreamError as exc:
                if not isinstance(exc, UpstreamNotFound):
                    fields = {"repository": name, "error": str(exc)}
                    _log.warning("upstream tags unavailable; listing the cache",
                                 extra={"fields": fields})  # fmt: skip
        return None

    # -- blobs ------------------------------------------------------------------------

    async def blob(self, rule: CacheRule, name: str, digest: str, *, head: bool) -> ProxiedBlob:
        """A blob the cache lacks, from the first upstream that has it."""
        remote = _upstream_path(name)
        errors: list[UpstreamError] = []
        for upstream_name in rule.upstreams:
            try:
                client = await self._client(upstream_name)
                if head:
                    return ProxiedBlob(await client.blob_size(remote, digest), None)
                flight = await self._fly(client, name, digest)
                return ProxiedBlob(flight.size, self._flights.read(flight))
            except UpstreamError as exc:
                errors.append(exc)
        error = _worst(errors)
        if isinstance(error, UpstreamNotFound):
            raise BlobUnknown(str(error), digest) from error
        raise UpstreamFailed(str(error), digest) from error

    async def _has_blob(self, name: str, digest: str) -> bool:
        try:
            await self._blobs.stat(name, digest)
        except BlobUnknown:
            return False
        return True

    async def _fly(self, client: UpstreamClient, name: str, digest: str) -> Flight:
        remote = _upstream_path(name)
        actor = f"pull-through:{client.upstream.name}"

        async def open_bytes() -> tuple[int | None, AsyncIterator[bytes]]:
            return await client.open_blob(remote, digest)

        async def store(spool: Path, size: int) -> None:
            await self._uploads.upload_whole(name, digest, _read_spool(spool), actor)

        return await self._flights.join((name, digest), open_bytes, store)

    # -- upstream clients -------------------------------------------------------------

    async def _client(self, upstream_name: str) -> UpstreamClient:
        kept = self._clients.get(upstream_name)
        if kept is not None and time.monotonic() - kept[1] < _CLIENT_SECONDS:
            return kept[0]
        try:
            upstream = await anyio.to_thread.run_sync(self._resolve, upstream_name)
        except Exception as exc:  # not saved, or its password cannot be decrypted
            raise UpstreamError(f"upstream {upstream_name}: {exc}") from exc
        client = UpstreamClient(upstream, timeout_seconds=self._timeout)
        self._clients[upstream_name] = (client, time.monotonic())
        # the replaced client may still serve a request: it is left to the collector
        return client


def _remove_stale_spools(spool_dir: Path) -> None:
    if not spool_dir.is_dir():
        return
    cutoff = time.time() - _STALE_SPOOL_SECONDS
    for entry in spool_dir.iterdir():
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)


def _upstream_path(name: str) -> str:
    return name.split("/", 1)[1]


def _worst(errors: list[UpstreamError]) -> UpstreamError:
    """ "Not found" only when every upstream said so; otherwise the first real failure."""
    if not errors:
        return UpstreamError("no upstream registry is configured for this cache")
    failures = [error for error in errors if not isinstance(error, UpstreamNotFound)]
    return failures[0] if failures else errors[0]


async def _read_spool(spool: Path) -> AsyncIterator[bytes]:
    handle = await anyio.to_thread.run_sync(spool.open, "rb")
    try:
        while chunk := await anyio.to_thread.run_sync(handle.read, _SPOOL_READ):
            yield chunk
    finally:
        handle.close()
