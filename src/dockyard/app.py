"""The composition root: `create_app(settings)` builds and wires everything, once per worker."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.admin_api.app import create_admin_api
from dockyard.auth.authenticator import Authenticator
from dockyard.auth.ldap import Directory
from dockyard.auth.maintenance import read_only_message
from dockyard.auth.manage import ManageContext
from dockyard.auth.sessions import SessionService
from dockyard.auth.sign_in import SignIn, SignInPolicy
from dockyard.auth.snapshot import AccessCache
from dockyard.auth.tokens import TokenService, shared_signing_key
from dockyard.config import SETTINGS_ENV, Settings
from dockyard.console import create_console
from dockyard.distribution.access import AccessControl
from dockyard.distribution.api import DistributionApi
from dockyard.distribution.token import TokenEndpoint
from dockyard.draining import GENERATION_ENV, GENERATION_FILE_ENV, DrainOnReload
from dockyard.forwarded import ForwardedClient
from dockyard.logs import configure_logging
from dockyard.metadata.db import Database
from dockyard.metadata.outbox import Origin, attach_routes
from dockyard.observability import (
    RequestObserver,
    metrics_endpoint,
    observe_gc_run,
    observe_read_only,
)
from dockyard.registry import diff_ids, gc, retention, webhooks
from dockyard.registry.context import Limits, RegistryContext
from dockyard.registry.pulls import FLUSH_SECONDS, PullRecorder
from dockyard.registry.services import RegistryServices
from dockyard.registry.upstream import imports, registries
from dockyard.registry.upstream.credentials import SecretBox
from dockyard.registry.upstream.pull_through import CacheRule, PullThrough
from dockyard.storage.base import BlobStore, StorageError
from dockyard.storage.configured import configured_store

__all__ = ["create_app", "create_app_from_env"]

_READY_PROBE = "sha256:" + "0" * 64  # a digest no blob has
_GC_FIRST_DELAY_SECONDS = 60  # after start: let the server settle first
_RETENTION_CHECK_SECONDS = 300  # how often workers look for policies due
_log = logging.getLogger("dockyard")


@dataclass
class _Parts:
    db: Database
    services: RegistryServices
    store: BlobStore
    manage: ManageContext
    importer: imports.Importer


@dataclass
class _Faces:
    distribution: DistributionApi
    token_endpoint: TokenEndpoint
    admin_api: FastAPI
    console: list[BaseRoute]


def _build(settings: Settings) -> tuple[_Parts, _Faces]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url)
    if not db.at_head():  # `dockyard serve` migrates before starting workers
        db.migrate()
    store = configured_store(settings)
    limits = Limits(
        max_manifest_bytes=settings.max_manifest_bytes,
        max_page_size=settings.max_page_size,
        in_flight_seconds=settings.gc_in_flight_seconds,
    )
    services = _with_pull_through(
        RegistryServices.build(RegistryContext(db, store, limits)), settings, db
    )
    access_cache = AccessCache(db)
    origin = Origin(
        f"{socket.gethostname()}:{settings.port}", str(uuid.uuid4()), settings.public_url
    )
    attach_routes(
        db.writer,
        webhooks.EndpointRoutes(access_cache, origin, settings.webhook_max_age_seconds),
    )
    directories = [Directory(config) for config in settings.directories]
    policy = SignInPolicy(
        failure_limit=settings.login_failure_limit,
        backoff_seconds=settings.login_backoff_seconds,
        directory_cache_seconds=settings.directory_login_cache_seconds,
    )
    authenticator = Authenticator(SignIn(db, directories, policy), access_cache)
    tokens = TokenService(
        shared_signing_key(db, settings.data_dir / "keys" / "token-signing.pem"),
        settings.token_issuer,
        settings.service,
        settings.token_ttl_seconds,
    )
    access = AccessControl(authenticator, tokens, access_cache, settings.read_only)
    api = DistributionApi(
        services, access, settings.service, settings.public_url,
        settings.body_idle_timeout_seconds,
    )  # fmt: skip
    manage = ManageContext.from_settings(
        db, settings, access=access_cache, store=store, directories=directories,
        gc_observer=observe_gc_run,
    )  # fmt: skip
    sessions = SessionService(db, access_cache, idle_seconds=settings.console_idle_minutes * 60)
    importer = imports.Importer.from_settings(manage, services, settings)
    faces = _Faces(
        distribution=api,
        token_endpoint=TokenEndpoint(authenticator, tokens, access_cache),
        admin_api=create_admin_api(
            manage, authenticator=authenticator, sessions=sessions, importer=importer
        ),
        console=create_console(
            sessions,
            authenticator,
            manage,
            public_url=settings.public_url,
        ),
    )
    return _Parts(db, services, store, manage, importer), faces


def create_app(settings: Settings) -> ASGIApp:
    parts, faces = _build(settings)
    distribution, token_endpoint, admin_api = (
        faces.distribution, faces.token_endpoint, faces.admin_api,
    )  # fmt: skip

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def read_only() -> str | None:
        return read_only_message(await parts.manage.access.current(), settings.read_only)

    async def metrics(request: Request) -> Response:
        observe_read_only(await read_only() is not None)
        return await metrics_endpoint(request)

    async def readyz(request: Request) -> Response:
        def check() -> dict[str, str]:
            problems = {}
            try:
                parts.db.generation()
                with parts.db.read() as conn:
                    conn.exec_driver_sql("SELECT 1")
            except Exception as exc:  # any failure means "not ready", reported plainly
                problems["database"] = str(exc)
            if not os.access(settings.data_dir, os.W_OK):
                problems["storage"] = f"{settings.data_dir} is not writable"
            try:  # one lookup: a stat on disk, a HEAD on S3 (reachable, credentials good)
                parts.store.blob_size(_READY_PROBE)
            except StorageError as exc:
                problems["storage"] = str(exc)
            return problems

        problems = await anyio.to_thread.run_sync(check)
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, 503)
        # Still ready in maintenance mode: pulls are served; the detail says writes are not.
        maintenance = await read_only()
        if maintenance is not None:
            return JSONResponse({"status": "ok", "read_only": True, "detail": maintenance})
        return JSONResponse({"status": "ok", "read_only": False})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stopping = threading.Event()
        async with anyio.create_task_group() as tasks:
            if settings.gc_interval_minutes > 0:
                tasks.start_soon(_collect_garbage, parts.manage, stopping)
            if settings.retention_interval_minutes > 0:
                tasks.start_soon(_apply_retention, parts.manage, stopping)
            tasks.start_soon(_backfill_diff_ids, parts)
            tasks.start_soon(_flush_pulls, parts.services.pulls)
            dispatcher = webhooks.Dispatcher(parts.db, settings.webhooks)
            tasks.start_soon(dispatcher.run, stopping)
            tasks.start_soon(_run_syncs, parts.importer, stopping, settings.sync_poll_seconds)
            try:
                yield
            finally:
                stopping.set()  # a collection in progress stops after its batch
                tasks.cancel_scope.cancel()
        if parts.services.pull_through is not None:
            await parts.services.pull_through.aclose()
        await anyio.to_thread.run_sync(_last_flush, parts.services.pulls)
        parts.db.close()

    starlette = Starlette(
        routes=[
            Route("/auth/token", token_endpoint.get, methods=["GET"]),
            Route("/auth/token", token_endpoint.post, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", readyz, methods=["GET", "HEAD"]),
            Route("/metrics", metrics, methods=["GET"]),
            *faces.console,  # everything else: the HTML console
        ],
        lifespan=lifespan,
    )

    async def root(scope: Scope, receive: Receive, send: Send) -> None:
        # /v2 skips Starlette's router: it is the hot path and routes itself from the right.
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/v2" or path.startswith("/v2/"):
            await distribution(scope, receive, send)
        elif path.startswith("/api/") and scope["type"] == "http":
            await admin_api(scope, receive, send)
        else:
            await starlette(scope, receive, send)

    observed = RequestObserver(root, access_log=settings.access_log)
    if settings.trusted_proxies:  # outermost: the access log names the real client too
        return ForwardedClient(observed, settings.trusted_proxies)
    return observed


def _with_pull_through(
    services: RegistryServices, settings: Settings, db: Database
) -> RegistryServices:
    if not settings.pull_through:
        return services
    box = SecretBox.from_settings(settings)
    cache = PullThrough(
        [CacheRule(c.namespace, tuple(c.upstreams), c.tag_check_seconds)
         for c in settings.pull_through],
        lambda name: registries.load(db, box, name),
        manifests=services.manifests, blobs=services.blobs, uploads=services.uploads,
        spool_dir=settings.data_dir / "tmp" / "pull-through",
        timeout_seconds=settings.pull_through_timeout_seconds,
    )  # fmt: skip
    return replace(services, pull_through=cache)


async def _collect_garbage(manage: ManageContext, stopping: threading.Event) -> None:
    """Scheduled garbage collection (and upload expiry): every worker tries, the lease and
    the last run's time pick one per interval across workers and replicas."""
    interval = manage.gc.interval_seconds
    jitter = random.random()  # noqa: S311 - spreads workers out; nothing secret
    await anyio.sleep(min(_GC_FIRST_DELAY_SECONDS, interval) * (1 + jitter))
    while not stopping.is_set():
        try:
            await anyio.to_thread.run_sync(gc.run_scheduled, manage, stopping)
        except Exception:  # a failed run must not stop the server; the next one retries
            _log.exception("scheduled garbage collection failed")
        await anyio.sleep(interval * (0.9 + 0.2 * random.random()))  # noqa: S311 - as above


async def _apply_retention(manage: ManageContext, stopping: threading.Event) -> None:
    """Scheduled retention: every worker tries, a lease and each policy's last run pick one
    run per policy and interval across workers and replicas. Checked every few minutes, so
    a policy enabled now runs soon, not a day later."""
    await anyio.sleep(_GC_FIRST_DELAY_SECONDS * (1 + random.random()))  # noqa: S311 - spread
    while not stopping.is_set():
        try:
            await anyio.to_thread.run_sync(retention.run_scheduled, manage, stopping)
        except Exception:  # a failed run must not stop the server; the next one retries
            _log.exception("scheduled retention failed")
        await anyio.sleep(min(manage.retention_interval_seconds, _RETENTION_CHECK_SECONDS))


async def _run_syncs(
    importer: imports.Importer, stopping: threading.Event, poll_seconds: float
) -> None:
    """Scheduled syncs: every worker looks every `poll_seconds`; each due sync is claimed
    by one worker of one replica (a conditional UPDATE, docs/design.md "Import and sync")
    and the others skip it."""
    await anyio.sleep(poll_seconds * random.random())  # noqa: S311 - spreads workers out
    while not stopping.is_set():
        try:
            await imports.run_due(importer, stopping)
        except Exception:  # a failed look must not stop the server; the next one retries
            _log.exception("scheduled syncs failed")
        await anyio.sleep(poll_seconds * (0.9 + 0.2 * random.random()))  # noqa: S311 - as above


async def _flush_pulls(recorder: PullRecorder) -> None:
    """Last-pulled times to the database every FLUSH_SECONDS, sooner when many pile up."""
    waited = 0
    while True:
        await anyio.sleep(1)
        waited += 1
        if waited < FLUSH_SECONDS and not recorder.many_pending():
            continue
        waited = 0
        try:
            await anyio.to_thread.run_sync(recorder.flush)
        except Exception:  # kept for the next flush; pulls go on regardless
            _log.exception("recording last-pulled times failed")


def _last_flush(recorder: PullRecorder) -> None:
    try:
        recorder.flush()
    except Exception:
        _log.exception("recording last-pulled times failed at shutdown")


async def _backfill_diff_ids(parts: _Parts) -> None:
    """Index the layer diff IDs of images pushed before they were indexed, batch by batch
    (so that shutdown is not held up for long); with nothing to do, one query. One worker
    of one replica at a time holds the lease; the others wait for it (a holder that dies
    lets it run out) and then find little or nothing left."""
    holder = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
    recorded, after = 0, ""
    try:
        while not await anyio.to_thread.run_sync(diff_ids.claim_backfill, parts.db, holder):
            await anyio.sleep(diff_ids.BACKFILL_LEASE_SECONDS / 2)
        try:
            while True:
                count, following = await anyio.to_thread.run_sync(
                    diff_ids.backfill_batch, parts.db, parts.store, after
                )
                recorded += count
                if following is None:
                    break
                after = following
                await anyio.to_thread.run_sync(diff_ids.claim_backfill, parts.db, holder)
        finally:
            with anyio.CancelScope(shield=True):  # at shutdown too: the next need not wait
                await anyio.to_thread.run_sync(diff_ids.release_backfill, parts.db, holder)
    except Exception:  # search by diff ID stays incomplete; the next start retries
        _log.exception("diff ID backfill failed")
    if recorded:
        _log.info("indexed layer diff IDs", extra={"fields": {"configs": recorded}})


def create_app_from_env() -> ASGIApp:
    """Granian's factory target: settings resolved by `dockyard serve`, passed through env."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = Settings(**json.loads(raw)) if raw else Settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    generation = os.environ.get(GENERATION_ENV)
    generation_file = os.environ.get(GENERATION_FILE_ENV)
    if generation is not None and generation_file is not None:
        # started by `dockyard serve`, which may replace us gracefully
        return DrainOnReload(app, Path(generation_file), generation)
    return app
