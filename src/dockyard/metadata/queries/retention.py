"""Queries behind retention: the policies, the facts rules decide on (tags with their push
and pull times, untagged manifests), the guarded removal of a tag, and the removals that
may still be restored."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, exists, func, select, update

from dockyard.metadata.models import (
    DeletedManifest,
    Manifest,
    ManifestReference,
    Repository,
    RetentionPolicy,
    Tag,
    TagEvent,
    table_of,
)
from dockyard.metadata.queries._batching import chunks
from dockyard.metadata.queries._upsert import upsert

__all__ = [
    "KeptRemoval",
    "PolicyRow",
    "TagFacts",
    "UntaggedFacts",
    "delete_policy",
    "forget_removal",
    "get_policy",
    "kept_removal",
    "kept_removals",
    "list_policies",
    "mark_run",
    "remove_tag_if_unchanged",
    "repositories_in",
    "save_policy",
    "subjects_present",
    "tag_facts",
    "untagged_facts",
]

_policy = table_of(RetentionPolicy)
_repo = table_of(Repository)
_tag = table_of(Tag)
_man = table_of(Manifest)
_ref = table_of(ManifestReference)
_event = table_of(TagEvent)
_deleted = table_of(DeletedManifest)


# -- policies ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyRow:
    id: int
    scope: str  # "namespace" or "repository"
    target: str
    enabled: bool
    protected: bool
    keep_last: int | None
    keep_patterns: tuple[str, ...]
    keep_pulled_days: int | None
    remove_older_than_days: int | None
    remove_untagged_after_days: int | None
    updated_at: int
    updated_by: str | None
    last_run_at: int | None


_POLICY = (
    _policy.c.id, _policy.c.scope, _policy.c.target, _policy.c.enabled, _policy.c.protected,
    _policy.c.keep_last, _policy.c.keep_patterns, _policy.c.keep_pulled_days,
    _policy.c.remove_older_than_days, _policy.c.remove_untagged_after_days,
    _policy.c.updated_at, _policy.c.updated_by, _policy.c.last_run_at,
)  # fmt: skip


def _policy_row(row: tuple[object, ...]) -> PolicyRow:
    values = list(row)
    values[6] = tuple(json.loads(str(values[6])))
    values[3], values[4] = bool(values[3]), bool(values[4])
    return PolicyRow(*values)  # type: ignore[arg-type]


def list_policies(conn: Connection) -> list[PolicyRow]:
    query = select(*_POLICY).order_by(_policy.c.scope, _policy.c.target)
    return [_policy_row(tuple(row)) for row in conn.execute(query)]


def get_policy(conn: Connection, scope: str, target: str) -> PolicyRow | None:
    row = conn.execute(
        select(*_POLICY).where(_policy.c.scope == scope, _policy.c.target == target)
    ).first()
    return None if row is None else _policy_row(tuple(row))


def save_policy(conn: Connection, policy: PolicyRow) -> None:
    """Insert or replace the policy of its scope and target."""
    values = {
        "enabled": policy.enabled,
        "protected": policy.protected,
        "keep_last": policy.keep_last,
        "keep_patterns": json.dumps(list(policy.keep_patterns)),
        "keep_pulled_days": policy.keep_pulled_days,
        "remove_older_than_days": policy.remove_older_than_days,
        "remove_untagged_after_days": policy.remove_untagged_after_days,
        "updated_at": policy.updated_at,
        "updated_by": policy.updated_by,
    }
    # one statement: two admins saving the first policy of a target at once both succeed
    row = {"scope": policy.scope, "target": policy.target, **values}
    upsert(conn, _policy, row, ["scope", "target"], list(values))


def delete_policy(conn: Connection, scope: str, target: str) -> bool:
    result = conn.execute(
        delete(_policy).where(_policy.c.scope == scope, _policy.c.target == target)
    )
    return result.rowcount == 1


def mark_run(conn: Connection, policy_id: int, at: int) -> None:
    conn.execute(update(_policy).where(_policy.c.id == policy_id).values(last_run_at=at))


# -- what rules decide on ----------------------------------------------------------------


def repositories_in(conn: Connection, namespace: str) -> list[tuple[int, str]]:
    query = (
        select(_repo.c.id, _repo.c.name)
        .where(_repo.c.namespace == namespace)
        .order_by(_repo.c.name)
    )
    return [(int(i), name) for i, name in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class TagFacts:
    name: str
    manifest_id: int
    digest: str
    media_type: str
    subject_digest: str | None
    pushed_at: int  # when the tag last moved
    last_pulled_at: int | None
    immutable: bool
    listed_by_index: bool  # some index of the repository lists its manifest
    tag_id: int = 0  # breaks ties of push time (seconds): the later created is newer


def tag_facts(conn: Connection, repo_id: int) -> list[TagFacts]:
    listed = exists().where(_ref.c.child_manifest_id == _man.c.id)
    query = (
        select(
            _tag.c.name, _man.c.id, _man.c.digest, _man.c.media_type, _man.c.subject_digest,
            _tag.c.updated_at, _tag.c.last_pulled_at, _tag.c.immutable, listed, _tag.c.id,
        )
        .join(_man, _man.c.id == _tag.c.manifest_id)
        .where(_tag.c.repository_id == repo_id)
        .order_by(_tag.c.name)
    )  # fmt: skip
    return [
        TagFacts(
            name,
            int(i),
            digest,
            media_type,
            subject,
            int(at),
            pulled,
            bool(imm),
            bool(lst),
            int(tag_id),
        )
        for name, i, digest, media_type, subject, at, pulled, imm, lst, tag_id in conn.execute(
            query
        )
    ]


@dataclass(frozen=True, slots=True)
class UntaggedFacts:
    manifest_id: int
    digest: str
    media_type: str
    untagged_since: int  # its last tag event, or its push when it never had a tag


def untagged_facts(conn: Connection, repo_id: int, now: int) -> list[UntaggedFacts]:
    """Manifests of the repository no tag names, no index lists, whose subject (if any) is
    not in the repository, and that no retention removal restorable at `now` holds: what
    an untagged-images rule may consider."""
    subject = _man.alias("subject")
    last_event = (
        select(func.max(_event.c.at))
        .where(_event.c.repository_id == repo_id, _event.c.digest == _man.c.digest)
        .scalar_subquery()
    )
    query = (
        select(_man.c.id, _man.c.digest, _man.c.media_type, _man.c.created_at, last_event)
        .where(
            _man.c.repository_id == repo_id,
            ~exists().where(_tag.c.manifest_id == _man.c.id),
            ~exists().where(_ref.c.child_manifest_id == _man.c.id),
            ~exists().where(
                subject.c.repository_id == repo_id, subject.c.digest == _man.c.subject_digest
            ),
            ~exists().where(
                _deleted.c.repository_id == repo_id,
                _deleted.c.digest == _man.c.digest,
                _deleted.c.kept_until >= now,
            ),
        )
        .order_by(_man.c.digest)
    )
    return [
        UntaggedFacts(int(i), digest, media_type, max(int(created), int(event or 0)))
        for i, digest, media_type, created, event in conn.execute(query)
    ]


def subjects_present(conn: Connection, repo_id: int, digests: Iterable[str]) -> set[str]:
    """Which of these digests are manifests of the repository."""
    found: set[str] = set()
    for chunk in chunks(set(digests)):
        query = select(_man.c.digest).where(
            _man.c.repository_id == repo_id, _man.c.digest.in_(chunk)
        )
        found.update(conn.execute(query).scalars())
    return found


def remove_tag_if_unchanged(
    conn: Connection, repo_id: int, name: str, manifest_id: int, pushed_at: int
) -> bool:
    """Delete the tag only if it still points where, and since when, the plan saw it: a
    push that moved it meanwhile wins (the row is locked by the delete on PostgreSQL)."""
    result = conn.execute(
        delete(_tag).where(
            _tag.c.repository_id == repo_id,
            _tag.c.name == name,
            _tag.c.manifest_id == manifest_id,
            _tag.c.updated_at == pushed_at,
            _tag.c.immutable.is_(False),
        )
    )
    return result.rowcount == 1


# -- removals that may be restored -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeptRemoval:
    id: int
    repository_id: int
    repository: str
    tag: str
    digest: str
    removed_at: int
    kept_until: int
    reason: str | None


_KEPT = (
    _deleted.c.id, _deleted.c.repository_id, _repo.c.name, _deleted.c.tags, _deleted.c.digest,
    _deleted.c.deleted_at, _deleted.c.kept_until, _deleted.c.reason,
)  # fmt: skip


def _kept(row: tuple[object, ...]) -> KeptRemoval:
    i, repo_id, repo, tags, digest, at, until, reason = row
    names = json.loads(str(tags))
    return KeptRemoval(
        int(str(i)), int(str(repo_id)), str(repo), names[0] if names else "", str(digest),
        int(str(at)), int(str(until)), None if reason is None else str(reason),
    )  # fmt: skip


def kept_removals(
    conn: Connection, repo_ids: Iterable[int] | None, now: int, limit: int
) -> list[KeptRemoval]:
    """Retention removals still restorable at `now`, newest first; in these repositories
    only, when given."""
    query = (
        select(*_KEPT)
        .join(_repo, _repo.c.id == _deleted.c.repository_id)
        .where(_deleted.c.kept_until >= now)
        .order_by(_deleted.c.deleted_at.desc(), _deleted.c.id.desc())
        .limit(limit)
    )
    if repo_ids is not None:
        query = query.where(_deleted.c.repository_id.in_(list(repo_ids)))
    return [_kept(tuple(row)) for row in conn.execute(query)]


def kept_removal(conn: Connection, removal_id: int) -> KeptRemoval | None:
    row = conn.execute(
        select(*_KEPT)
        .join(_repo, _repo.c.id == _deleted.c.repository_id)
        .where(_deleted.c.id == removal_id, _deleted.c.kept_until.is_not(None))
    ).first()
    return None if row is None else _kept(tuple(row))


def forget_removal(conn: Connection, removal_id: int) -> None:
    conn.execute(delete(_deleted).where(_deleted.c.id == removal_id))
