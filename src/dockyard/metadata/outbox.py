"""The webhook outbox writer: `audit.record` calls `enqueue` in the action's own write
transaction, so an event is stored exactly when its action commits (docs/design.md,
"Webhooks"). Delivery happens later, after commit (registry/webhooks/dispatch.py).

Why here, below the domain: every mutating action already records its audit row through
`audit.record(conn, ...)`, in its transaction; hooking that one function means no action can
forget its event. The envelope is built now, once: its bytes are what every attempt sends
and signs (a retry is byte-identical, with the same event ids, so receivers can dedupe).

The format is CNCF distribution's notification envelope
(`application/vnd.docker.distribution.events.v1+json`: `{"events": [...]}`, each event
with id, timestamp, action, target, request, actor, source). Actions: `push` and `delete`
as distribution sends them for manifests, plus two extensions (README, "Webhooks"):
`promote` (a server-side promotion; `target.fromRepository` names the source, as
distribution does for mounts) and `tag-move` (a push that moved an existing tag;
`target.previousDigest` is the manifest it pointed at). Blob uploads send no event.

Cost on the push path: an action that no endpoint can want (a sign-in failure, a grant)
returns before anything; otherwise the enabled endpoints come from the worker's cache
(`Routes`, attached to the writer engine by the composition root; without one, e.g. in the
CLI, they are read in the transaction), and only when one matches are the manifest's type
and size read and one row per matching endpoint inserted, in one statement.
"""

from __future__ import annotations

import fnmatch
import json
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, insert, select

from dockyard.metadata.models import (
    Manifest,
    Repository,
    WebhookDelivery,
    WebhookEndpoint,
    table_of,
)

__all__ = [
    "ACTIONS",
    "EVENTS_MEDIA_TYPE",
    "Origin",
    "Route",
    "Routes",
    "TableRoutes",
    "attach_routes",
    "enqueue",
    "load_routes",
]

EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
ACTIONS = ("push", "delete", "promote", "tag-move")
_OPTION = "dockyard_webhook_routes"  # the writer engine's execution option holding Routes
_METHODS = {"push": "PUT", "tag-move": "PUT", "delete": "DELETE", "promote": "POST"}
_DEFAULT_RETRY = 86_400  # without Routes (the CLI on the data directory): a day
_WITH_CONTENT = frozenset({"push", "tag-move", "promote"})  # events that describe a manifest

_endpoint = table_of(WebhookEndpoint)
_delivery = table_of(WebhookDelivery)
_manifest = table_of(Manifest)
_repo = table_of(Repository)


@dataclass(frozen=True, slots=True)
class Origin:
    """Who generates the events: `source` of every event, and the base of `target.url`
    and `request.host` (the `public_url` setting; without it both are left out)."""

    addr: str
    instance_id: str
    public_url: str | None = None

    @staticmethod
    def here(public_url: str | None = None) -> Origin:
        """This process: the host name and a new id (distribution: changes every start)."""
        return Origin(socket.gethostname(), str(uuid.uuid4()), public_url)


@dataclass(frozen=True, slots=True)
class Route:
    """An enabled endpoint as the outbox sees it: what it wants, never its secret."""

    id: int
    actions: frozenset[str]
    repositories: tuple[str, ...] = ()  # globs; empty: every repository

    def wants(self, action: str, repository: str) -> bool:
        if action not in self.actions:
            return False
        return not self.repositories or any(
            fnmatch.fnmatchcase(repository, pattern) for pattern in self.repositories
        )


class Routes(Protocol):
    """The worker's view of the enabled endpoints (registry/webhooks/routing.py)."""

    @property
    def origin(self) -> Origin:
        """Who the events say generated them."""
        ...

    @property
    def retry_seconds(self) -> int:
        """How long a new delivery is retried (the webhook_max_age_seconds setting)."""
        ...

    def endpoints(self, conn: Connection) -> Sequence[Route]:
        """The enabled endpoints, current for this transaction's action (see the
        implementation for the guarantee)."""
        ...


@dataclass(frozen=True, slots=True)
class TableRoutes:
    """`Routes` that read the endpoints in every recording transaction: for processes that
    hold no access snapshot (the CLI on the data directory), and the default."""

    origin: Origin
    retry_seconds: int = _DEFAULT_RETRY

    def endpoints(self, conn: Connection) -> Sequence[Route]:
        return load_routes(conn)


def attach_routes(engine: Engine, routes: Routes) -> None:
    """Make `enqueue` on this engine's connections use `routes` (the composition root)."""
    engine.update_execution_options(**{_OPTION: routes})


def load_routes(conn: Connection) -> list[Route]:
    rows = conn.execute(
        select(_endpoint.c.id, _endpoint.c.actions, _endpoint.c.repositories).where(
            _endpoint.c.enabled.is_(True)
        )
    )
    return [Route(row[0], frozenset(_split(row[1])), tuple(_split(row[2] or ""))) for row in rows]


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class _Fact:
    """One event an audit record stands for, before it is dressed as an envelope entry."""

    action: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _reference(target: str) -> tuple[str, str | None, str | None]:
    """`repo:tag` or `repo@digest` -> (repository, tag, digest)."""
    if "@" in target:
        name, _, digest = target.partition("@")
        return name, None, digest
    name, _, tag = target.rpartition(":")
    return (name, tag, None) if name else (target, None, None)


def _facts(action: str, target: str | None, detail: dict[str, Any]) -> list[_Fact]:
    """The webhook events an audit record stands for (none for most actions)."""
    if target is None and action != "layer.purge":
        return []
    if action == "manifest.push" and target is not None:
        name, tag, digest = _reference(target)
        digest = digest or detail.get("digest")
        facts = [_Fact("push", name, tag, digest)]
        previous = detail.get("previous")
        if tag is not None and isinstance(previous, str):
            facts.append(_Fact("tag-move", name, tag, digest, {"previousDigest": previous}))
        return facts
    if action in ("tag.delete", "manifest.delete", "retention.remove") and target is not None:
        name, tag, digest = _reference(target)
        return [_Fact("delete", name, tag, digest or detail.get("digest"))]
    if action == "repository.delete" and target is not None:
        return [_Fact("delete", target.removeprefix("repository:"))]
    if action == "layer.purge":
        going = [_reference(ref) for ref in detail.get("manifests", []) if isinstance(ref, str)]
        return [_Fact("delete", name, None, digest) for name, _, digest in going]
    if action == "image.promote" and target is not None:
        name, tag, _ = _reference(target)
        source = str(detail.get("source") or "")
        extra = {"fromRepository": _reference(source)[0]} if source else {}
        return [_Fact("promote", name, tag or detail.get("tag"), detail.get("digest"), extra)]
    return []


def _stamp(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _contents(conn: Connection, facts: list[_Fact]) -> dict[tuple[str, str], tuple[str, int]]:
    """(repository, digest) -> (media type, size) of the manifests the events describe."""
    wanted = {(f.repository, f.digest) for f in facts if f.action in _WITH_CONTENT and f.digest}
    if not wanted:
        return {}
    rows = conn.execute(
        select(_repo.c.name, _manifest.c.digest, _manifest.c.media_type, _manifest.c.size)
        .join(_repo, _repo.c.id == _manifest.c.repository_id)
        .where(
            _repo.c.name.in_({name for name, _ in wanted}),
            _manifest.c.digest.in_({digest for _, digest in wanted}),
        )
    )
    return {(row[0], row[1]): (row[2], int(row[3])) for row in rows}


def _event(
    fact: _Fact,
    content: tuple[str, int] | None,
    *,
    at: int,
    actor: str | None,
    address: str | None,
    request_id: str,
    origin: Origin,
) -> dict[str, Any]:
    target: dict[str, Any] = {}
    if content is not None:
        target["mediaType"], target["size"] = content
    if fact.digest:
        target["digest"] = fact.digest
    if content is not None:
        target["length"] = content[1]
    target["repository"] = fact.repository
    base = (origin.public_url or "").rstrip("/")
    if base and fact.digest and fact.action in _WITH_CONTENT:
        target["url"] = f"{base}/v2/{fact.repository}/manifests/{fact.digest}"
    if fact.tag:
        target["tag"] = fact.tag
    target.update(fact.extra)
    request: dict[str, Any] = {"id": request_id, "method": _METHODS[fact.action], "useragent": ""}
    if address:
        request["addr"] = address
    host = urlsplit(base).netloc if base else ""
    if host:
        request["host"] = host
    event: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "timestamp": _stamp(at),
        "action": fact.action,
        "target": target,
        "request": request,
        "actor": {"name": actor} if actor else {},
        "source": {"addr": origin.addr, "instanceID": origin.instance_id},
    }
    return event


def enqueue(
    conn: Connection,
    *,
    at: int,
    actor: str | None,
    action: str,
    target: str | None,
    address: str | None,
    detail: dict[str, Any] | None,
    retry_seconds: int | None = None,
) -> int:
    """Store the deliveries this audit record owes, in the caller's transaction; returns how
    many (one per endpoint that wants at least one of its events). `retry_seconds` bounds
    how long they are retried (default: the routes' setting, else a day)."""
    facts = _facts(action, target, detail or {})
    if not facts:
        return 0
    routes: Routes = conn.get_execution_options().get(_OPTION) or TableRoutes(Origin.here())
    endpoints = routes.endpoints(conn)
    chosen = [(e, [f for f in facts if e.wants(f.action, f.repository)]) for e in endpoints]
    chosen = [(e, wanted) for e, wanted in chosen if wanted]
    if not chosen:
        return 0
    origin = routes.origin
    contents = _contents(conn, facts)
    request_id = str(uuid.uuid4())
    events = {
        id(f): _event(
            f,
            contents.get((f.repository, f.digest or "")),
            at=at,
            actor=actor,
            address=address,
            request_id=request_id,
            origin=origin,
        )
        for f in facts
    }
    keep = retry_seconds or routes.retry_seconds
    rows = []
    for endpoint, wanted in chosen:
        entries = [events[id(f)] for f in wanted]
        rows.append(
            {
                "endpoint_id": endpoint.id,
                "event_id": entries[0]["id"],
                "actions": ",".join(dict.fromkeys(f.action for f in wanted)),
                "target": (target or "")[:512] or None,
                "body": json.dumps({"events": entries}, separators=(",", ":")).encode(),
                "status": "pending",
                "attempts": 0,
                "created_at": at,
                "next_attempt_at": at,
                "retry_until": at + keep,
            }
        )
    conn.execute(insert(_delivery), rows)
    return len(rows)
