"""Queries behind promotion: what an image brings along (its blobs, read to link them in
the target), the record of promotions, and approvals."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, select

from dockyard.metadata.models import (
    Manifest,
    ManifestReference,
    Promotion,
    PromotionApproval,
    Tag,
    table_of,
)
from dockyard.metadata.queries._batching import chunks
from dockyard.metadata.queries._upsert import insert_ignore

__all__ = [
    "ApprovalRow",
    "PromotionRow",
    "add_approval",
    "add_promotion",
    "approvals",
    "arrived_at",
    "latest_by_application",
    "linked_blobs",
    "list_promotions",
]

_man = table_of(Manifest)
_ref = table_of(ManifestReference)
_tag = table_of(Tag)
_promotion = table_of(Promotion)
_approval = table_of(PromotionApproval)


@dataclass(frozen=True, slots=True)
class PromotionRow:
    id: int
    at: int
    actor: str | None
    application: str
    digest: str
    source_repository: str
    source_tag: str | None
    target_repository: str
    target_tag: str
    gates: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    digest: str
    environment: str
    approved_by: str
    at: int
    note: str | None


def linked_blobs(conn: Connection, manifest_ids: Iterable[int]) -> set[str]:
    """The blobs these manifests use through a link of their repository (foreign layers,
    which the registry does not hold, left out)."""
    found: set[str] = set()
    for chunk in chunks(manifest_ids):
        query = select(_ref.c.digest).where(
            _ref.c.manifest_id.in_(chunk), _ref.c.repository_id.is_not(None)
        )
        found.update(conn.execute(query).scalars())
    return found


def arrived_at(conn: Connection, repo_id: int, digest: str) -> int | None:
    """When the manifest came into the repository (pushed or promoted)."""
    query = select(_man.c.created_at).where(
        _man.c.repository_id == repo_id, _man.c.digest == digest
    )
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def add_promotion(
    conn: Connection,
    *,
    at: int,
    actor: str | None,
    application: str,
    digest: str,
    source: tuple[str, str | None],
    target: tuple[str, str],
    gates: list[dict[str, Any]],
) -> int:
    return int(
        conn.execute(
            _promotion.insert()
            .values(
                at=at, actor=actor, application=application, digest=digest,
                source_repository=source[0], source_tag=source[1],
                target_repository=target[0], target_tag=target[1],
                gates=json.dumps(gates, sort_keys=True),
            )
            .returning(_promotion.c.id)
        ).scalar_one()
    )  # fmt: skip


def _promotions() -> Select[Any]:
    return select(
        _promotion.c.id, _promotion.c.at, _promotion.c.actor, _promotion.c.application,
        _promotion.c.digest, _promotion.c.source_repository, _promotion.c.source_tag,
        _promotion.c.target_repository, _promotion.c.target_tag, _promotion.c.gates,
    )  # fmt: skip


def _promotion_row(row: Row[Any]) -> PromotionRow:
    return PromotionRow(
        int(row.id), int(row.at), row.actor, row.application, row.digest,
        row.source_repository, row.source_tag, row.target_repository, row.target_tag,
        json.loads(row.gates or "[]"),
    )  # fmt: skip


def list_promotions(
    conn: Connection,
    *,
    repository: str | None = None,
    application: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[PromotionRow]:
    """Newest first; `repository` matches either end."""
    query = _promotions().order_by(_promotion.c.id.desc()).limit(limit)
    if repository is not None:
        query = query.where(
            (_promotion.c.source_repository == repository)
            | (_promotion.c.target_repository == repository)
        )
    if application is not None:
        query = query.where(_promotion.c.application == application)
    if before_id is not None:
        query = query.where(_promotion.c.id < before_id)
    return [_promotion_row(row) for row in conn.execute(query)]


def latest_by_application(conn: Connection, applications: Iterable[str]) -> list[PromotionRow]:
    """The promotions of these applications, newest first (the board's history column)."""
    found: list[PromotionRow] = []
    for chunk in chunks(applications):
        query = _promotions().where(_promotion.c.application.in_(chunk))
        found.extend(_promotion_row(row) for row in conn.execute(query))
    return sorted(found, key=lambda row: row.id, reverse=True)


def add_approval(
    conn: Connection, digest: str, environment: str, by: str, at: int, note: str | None
) -> bool:
    """False: this person had approved it already."""
    values = {"digest": digest, "environment": environment, "approved_by": by, "at": at,
              "note": note}  # fmt: skip
    return bool(insert_ignore(conn, _approval, values, ["digest", "environment", "approved_by"]))


def approvals(conn: Connection, digest: str, environment: str) -> list[ApprovalRow]:
    query = (
        select(
            _approval.c.digest, _approval.c.environment, _approval.c.approved_by,
            _approval.c.at, _approval.c.note,
        )
        .where(_approval.c.digest == digest, _approval.c.environment == environment)
        .order_by(_approval.c.at)
    )  # fmt: skip
    return [ApprovalRow(*row) for row in conn.execute(query)]
