"""Imports: a local repository that follows a repository of an upstream registry (all its
tags, or those matching chosen globs), on demand and every `interval_minutes`.

A run lists the upstream's tags and, for each chosen tag whose upstream digest differs from
the local tag's, fetches the manifest (an index: each child by digest too), copies every
blob the local repository lacks through `UploadService.upload_whole` (streamed, digest
verified, linked) and stores the manifests through `ManifestService.put`, children first,
the tag last: immutability, quotas, tag history, tag follows and webhooks all apply as to a
push. A tag that fails (an immutable tag that would move, a quota, an upstream error) is
that tag's error; the others go on. A re-run of an unchanged repository writes nothing.

One run per sync at a time, across workers and replicas: a run starts only by claiming the
row (metadata/queries/syncs.py, docs/design.md "Import and sync"), renews the claim after
each tag and records its outcome (`last_status`, the first per-tag errors, the number of
tags imported; audit `repository.sync`) only while the claim is still its own.

Permissions: write on the local repository to run a sync, admin of it to add or remove one;
reading it is enough to see its sync. Scheduled runs act as `sync` in audit and tag history.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import anyio

from dockyard.auth.errors import (
    AccessError,
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
)
from dockyard.auth.manage._checks import at_least, record
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import is_registry_admin, role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.config import Settings
from dockyard.metadata.queries import audit, repositories
from dockyard.metadata.queries import blobs as blob_queries
from dockyard.metadata.queries import syncs as q
from dockyard.metadata.queries import upstreams as upstream_queries
from dockyard.metadata.queries.syncs import SyncRow
from dockyard.registry.errors import RegistryError
from dockyard.registry.manifest_parser import parse_manifest
from dockyard.registry.names import validate_name
from dockyard.registry.services import RegistryServices
from dockyard.registry.types import ParsedManifest, ReferenceKind
from dockyard.registry.upstream import registries
from dockyard.registry.upstream.client import UpstreamClient, UpstreamError, UpstreamManifest
from dockyard.registry.upstream.credentials import SecretBox, SecretsKeyChanged

__all__ = [
    "SCHEDULER",
    "Importer",
    "Progress",
    "RunResult",
    "SyncRow",
    "add_sync",
    "get_sync",
    "list_syncs",
    "remove_sync",
    "repository_sync",
    "run_due",
    "run_sync",
    "sync_of",
]

SCHEDULER = "sync"  # the actor of scheduled runs
_TAG_GLOB = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]{1,128}$")
_ERRORS_KEPT = 5
_ERROR_CHARS = 2000
_MAX_EVERY_MINUTES = 525_600  # a year
_log = logging.getLogger("dockyard.sync")

Progress = Callable[[int, int], None]  # (tags done, tags chosen)


@dataclass(frozen=True)
class Importer:
    """What imports need: the management context (permissions, audit), the registry
    services a push goes through, the secrets box and the bounds of upstream calls."""

    manage: ManageContext
    services: RegistryServices
    box: SecretBox
    timeout_seconds: float = 30.0
    claim_seconds: int = 900  # a run renews its claim after each tag; a dead run's lapses

    @classmethod
    def from_settings(
        cls, manage: ManageContext, services: RegistryServices, settings: Settings
    ) -> Importer:
        return cls(
            manage, services, SecretBox.from_settings(settings), settings.upstream_timeout_seconds
        )


@dataclass(frozen=True, slots=True)
class RunResult:
    repository: str
    status: str  # ok | failed
    tags_total: int = 0
    imported: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def error_text(self) -> str | None:
        if not self.errors:
            return None
        shown = self.errors[:_ERRORS_KEPT]
        more = len(self.errors) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more else "")
        return text[:_ERROR_CHARS]


# -- managing syncs ------------------------------------------------------------------------


def _tags(globs: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(g.strip() for g in globs if g.strip()))
    for glob in chosen:
        if not _TAG_GLOB.match(glob):
            raise InvalidRequest(f"{glob!r} is not a tag or a tag glob (like 1.*, v[0-9]*)")
    return chosen


def _source(source: str) -> tuple[str, str]:
    upstream, sep, repository = source.strip().partition("/")
    if not sep or not upstream or not repository:
        raise InvalidRequest("the source is UPSTREAM/REPOSITORY (`hub/library/alpine`)")
    try:
        validate_name(repository)
    except RegistryError as err:
        raise InvalidRequest(f"upstream repository: {err.message}") from None
    return upstream, repository


def _local(repository: str) -> str:
    try:
        return validate_name(repository.strip())
    except RegistryError as err:
        raise InvalidRequest(err.message) from None


def _require(ctx: ManageContext, caller: Principal, repository: str, need: Role) -> None:
    role = role_on(ctx.snapshot(), caller, repository)
    if role is None:
        raise NotFound(f"repository {repository} not found")
    if not at_least(role, need):
        raise Forbidden(f"the {need} role on repository {repository} is required")


def add_sync(
    imp: Importer,
    caller: Principal,
    address: str | None,
    repository: str,
    source: str,
    tags: Sequence[str] = (),
    every_minutes: int = 0,
) -> SyncRow:
    """`repository` follows `source` (UPSTREAM/REPO); a scheduled one is due at once."""
    ctx = imp.manage
    repository = _local(repository)
    _require(ctx, caller, repository, Role.ADMIN)
    upstream_name, upstream_repository = _source(source)
    chosen = _tags(tags)
    if not 0 <= every_minutes <= _MAX_EVERY_MINUTES:
        raise InvalidRequest(f"every is 0 (on demand only) to {_MAX_EVERY_MINUTES} minutes")
    with ctx.db.write() as conn:
        upstream = upstream_queries.upstream_by_name(conn, upstream_name)
        if upstream is None:
            raise NotFound(f"upstream {upstream_name} not found")
        added = q.add_sync(
            conn, repository=repository, upstream_id=upstream.id,
            upstream_repository=upstream_repository, tags=chosen,
            interval_minutes=every_minutes, at=ctx.now(), by=caller.name,
        )  # fmt: skip
        if not added:
            raise AlreadyExists(f"repository {repository} already syncs from an upstream")
        row = q.sync_by_repository(conn, repository)
        assert row is not None  # noqa: S101 - inserted just now, in this transaction
        detail = {"from": f"{upstream_name}/{upstream_repository}", "tags": chosen,
                  "every_minutes": every_minutes}  # fmt: skip
        record(conn, ctx, caller, address, "sync.add", f"repository:{repository}", detail)
    return row


def list_syncs(imp: Importer, caller: Principal) -> list[SyncRow]:
    """The syncs of the repositories the caller may read."""
    snapshot = imp.manage.snapshot()
    with imp.manage.db.read() as conn:
        rows = q.list_syncs(conn)
    if is_registry_admin(snapshot, caller):
        return rows
    return [row for row in rows if role_on(snapshot, caller, row.repository) is not None]


def get_sync(imp: Importer, caller: Principal, repository: str) -> SyncRow:
    """NotFound also when the caller may not read the repository (pitfalls §27)."""
    if role_on(imp.manage.snapshot(), caller, repository) is None:
        raise NotFound(f"no sync of repository {repository}")
    with imp.manage.db.read() as conn:
        row = q.sync_by_repository(conn, repository)
    if row is None:
        raise NotFound(f"no sync of repository {repository}")
    return row


def sync_of(imp: Importer, repository: str) -> SyncRow | None:
    """The sync of a repository the caller was already checked to read (console)."""
    with imp.manage.db.read() as conn:
        return q.sync_by_repository(conn, repository)


def repository_sync(ctx: ManageContext, caller: Principal, repository: str) -> SyncRow | None:
    """The repository's sync for its page (None also when the caller may not read it)."""
    if role_on(ctx.snapshot(), caller, repository) is None:
        return None
    with ctx.db.read() as conn:
        return q.sync_by_repository(conn, repository)


def remove_sync(imp: Importer, caller: Principal, address: str | None, repository: str) -> None:
    """The repository stops following; what was imported stays."""
    ctx = imp.manage
    _require(ctx, caller, repository, Role.ADMIN)
    with ctx.db.write() as conn:
        if not q.remove_sync(conn, repository):
            raise NotFound(f"no sync of repository {repository}")
        record(conn, ctx, caller, address, "sync.remove", f"repository:{repository}")


# -- running -------------------------------------------------------------------------------


async def run_sync(
    imp: Importer,
    caller: Principal,
    address: str | None,
    repository: str,
    progress: Progress | None = None,
) -> RunResult:
    """Run now (Conflict when a run is in progress, here or on another replica)."""
    ctx = imp.manage
    _require(ctx, caller, repository, Role.WRITE)
    await anyio.to_thread.run_sync(ctx.refuse_if_read_only)
    row = await anyio.to_thread.run_sync(get_sync, imp, caller, repository)
    held = await anyio.to_thread.run_sync(_claim, imp, repository, False)
    if held is None:
        raise Conflict(f"a run of the sync of {repository} is in progress")
    return await _run_claimed(imp, row, held, caller.name, address, progress)


async def run_due(imp: Importer, stopping: threading.Event | None = None) -> list[RunResult]:
    """Run every scheduled sync that is due and that this worker claims (the others'
    claims make it skip theirs); nothing while the registry is read-only."""
    ctx = imp.manage
    if await anyio.to_thread.run_sync(_read_only, ctx):
        return []
    results = []
    for repository in await anyio.to_thread.run_sync(_due, imp):
        if stopping is not None and stopping.is_set():
            break
        held = await anyio.to_thread.run_sync(_claim, imp, repository, True)
        if held is None:
            continue  # another worker or replica has it
        row = await anyio.to_thread.run_sync(sync_of, imp, repository)
        if row is None:
            continue
        results.append(await _run_claimed(imp, row, held, SCHEDULER, None, None))
    return results


def _read_only(ctx: ManageContext) -> bool:
    try:
        ctx.refuse_if_read_only()
    except AccessError:
        return True
    return False


def _due(imp: Importer) -> list[str]:
    with imp.manage.db.read() as conn:
        return q.due_syncs(conn, imp.manage.now())


def _claim(imp: Importer, repository: str, due_only: bool) -> int | None:
    """The claim's expiry (its token), or None when someone else runs it."""
    now = imp.manage.now()
    until = now + imp.claim_seconds
    with imp.manage.db.write() as conn:
        return until if q.claim(conn, repository, now, until, due_only=due_only) else None


class _ClaimLost(Exception):
    pass


@dataclass
class _Run:
    imp: Importer
    row: SyncRow
    held: int
    actor: str | None
    address: str | None
    imported: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def repository(self) -> str:
        return self.row.repository

    def _renew(self) -> None:
        until = max(self.imp.manage.now() + self.imp.claim_seconds, self.held + 1)
        with self.imp.manage.db.write() as conn:
            if not q.renew(conn, self.repository, self.held, until):
                raise _ClaimLost(f"the claim on the sync of {self.repository} was lost")
        self.held = until

    def _local_tags(self) -> dict[str, str]:
        with self.imp.manage.db.read() as conn:
            return q.local_tags(conn, self.repository)

    def _missing_blobs(self, digests: list[str]) -> list[str]:
        with self.imp.manage.db.read() as conn:
            repo_id = repositories.repository_id(conn, self.repository)
            have = blob_queries.linked_sizes(conn, repo_id, digests) if repo_id else {}
        return [d for d in dict.fromkeys(digests) if d not in have]

    def _missing_manifests(self, digests: list[str]) -> list[str]:
        with self.imp.manage.db.read() as conn:
            have = q.local_manifests(conn, self.repository, digests)
        return [d for d in dict.fromkeys(digests) if d not in have]

    async def tags(self, client: UpstreamClient, progress: Progress | None) -> int:
        """Every chosen tag; the number chosen."""
        source = self.row.upstream_repository
        globs = self.row.tags
        listed = await client.tags(source)
        chosen = sorted({t for t in listed if not globs or any(fnmatchcase(t, g) for g in globs)})
        local = await anyio.to_thread.run_sync(self._local_tags)
        if progress is not None:
            progress(0, len(chosen))
        for done, tag in enumerate(chosen, start=1):
            try:
                digest = await client.manifest_digest(source, tag)
                if local.get(tag) == digest:
                    self.unchanged += 1
                else:
                    await self._tag(client, tag, digest)
                    self.imported += 1
            except (UpstreamError, RegistryError, AccessError) as err:
                self.errors.append(f"{tag}: {getattr(err, 'message', None) or err}")
            await anyio.to_thread.run_sync(self._renew)
            if progress is not None:
                progress(done, len(chosen))
        return len(chosen)

    async def _tag(self, client: UpstreamClient, tag: str, digest: str) -> None:
        source = self.row.upstream_repository
        top = await client.manifest(source, digest)
        parsed = _parse(top)
        if parsed.is_index:
            children = [d.digest for k, d in parsed.references() if k is ReferenceKind.CHILD]
            for child_digest in await anyio.to_thread.run_sync(self._missing_manifests, children):
                child = await client.manifest(source, child_digest)
                await self._blobs(client, _parse(child))
                await self._put(child, child.digest)
        await self._blobs(client, parsed)
        await self._put(top, tag)

    async def _blobs(self, client: UpstreamClient, parsed: ParsedManifest) -> None:
        wanted = [
            d.digest
            for kind, d in parsed.references()
            if kind is not ReferenceKind.CHILD and not d.is_foreign
        ]
        uploads = self.imp.services.uploads
        for digest in await anyio.to_thread.run_sync(self._missing_blobs, wanted):
            body = client.blob(self.row.upstream_repository, digest)
            await uploads.upload_whole(self.repository, digest, body, self.actor, self.address)

    async def _put(self, manifest: UpstreamManifest, reference: str) -> None:
        await self.imp.services.manifests.put(
            self.repository, reference, manifest.payload, manifest.media_type or None,
            self.actor, self.address,
        )  # fmt: skip


def _parse(manifest: UpstreamManifest) -> ParsedManifest:
    return parse_manifest(manifest.payload, manifest.media_type or None)


async def _run_claimed(
    imp: Importer,
    row: SyncRow,
    held: int,
    actor: str | None,
    address: str | None,
    progress: Progress | None,
) -> RunResult:
    run = _Run(imp, row, held, actor, address)
    total, fatal = 0, None
    try:
        upstream = await anyio.to_thread.run_sync(
            registries.load_by_id, imp.manage.db, imp.box, row.upstream_id
        )
        client = UpstreamClient(upstream, timeout_seconds=imp.timeout_seconds)
        try:
            total = await run.tags(client, progress)
        finally:
            await client.aclose()
    except (UpstreamError, SecretsKeyChanged, _ClaimLost, AccessError) as err:
        fatal = getattr(err, "message", None) or str(err)
    except Exception as err:  # recorded on the sync and logged; the next run retries
        _log.exception("sync of %s failed", row.repository)
        fatal = f"internal error: {type(err).__name__}"
    errors = [fatal, *run.errors] if fatal else run.errors
    result = RunResult(
        row.repository, "failed" if errors else "ok", total, run.imported, run.unchanged, errors
    )
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(_finish, imp, run, result, actor, address)
    return result


def _finish(
    imp: Importer, run: _Run, result: RunResult, actor: str | None, address: str | None
) -> None:
    at = imp.manage.now()
    with imp.manage.db.write() as conn:
        recorded = q.finish(
            conn, result.repository, run.held, status=result.status, error=result.error_text,
            imported=result.imported, at=at,
        )  # fmt: skip
        if not recorded:
            return  # the claim lapsed and another run took over: its outcome stands
        detail = {
            "from": f"{run.row.upstream}/{run.row.upstream_repository}",
            "status": result.status, "tags": result.tags_total, "imported": result.imported,
            "unchanged": result.unchanged, "errors": len(result.errors),
        }  # fmt: skip
        audit.record(
            conn, at=at, actor=actor, action="repository.sync",
            target=f"repository:{result.repository}", address=address, detail=detail,
        )  # fmt: skip
