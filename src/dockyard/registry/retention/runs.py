"""Simulating and applying retention, restoring what it removed, and the server's schedule.

A simulation works the plan out on a read snapshot: every tag and untagged image that would
go, with the rule, and the bytes garbage collection would then free. Applying works it out
again, repository by repository, inside each repository's write transaction, and removes
only what both plans agree on: nothing the simulation did not show ever goes, and a tag a
push moved since is left alone (its delete re-states where it pointed and since when). With
`expect` (the simulation's fingerprint) a run refuses to start when the plan changed.

Removed tags are soft-deleted: their manifest stays, kept from garbage collection until the
restore window ends (`deleted_manifest.kept_until`), and any of them can be put back until
then. Untagged images removed by a rule go at once (there is no tag to put back); their
bytes follow at the next garbage collection after its grace period. Each removal's audit
record names the policy and the rule.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from dockyard.auth.errors import Conflict, Forbidden, NotFound, ReadOnly
from dockyard.auth.maintenance import refuse_if_read_only
from dockyard.auth.manage._checks import require_active
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.metadata.queries import audit, gc_queue, leases
from dockyard.metadata.queries import deletes as dq
from dockyard.metadata.queries import manifests as manifest_queries
from dockyard.metadata.queries import repositories as repository_queries
from dockyard.metadata.queries import retention as q
from dockyard.metadata.queries import tags as tag_queries
from dockyard.registry.delete_plans import Member, TagRef, grow, reclaimable_bytes, role_of
from dockyard.registry.immutability import protected_tags
from dockyard.registry.retention.policies import (
    Policy,
    Scope,
    from_row,
    policy_for,
    require_admin,
)
from dockyard.registry.retention.rules import Rules, decide_tags, decide_untagged

__all__ = [
    "ApplyResult",
    "Removal",
    "RemovedTag",
    "Simulation",
    "apply",
    "removals",
    "restore",
    "run_scheduled",
    "simulate",
]

_log = logging.getLogger("dockyard.retention")
ACTOR = "retention"
LEASE = "retention"
LEASE_SECONDS = 600


@dataclass(frozen=True, slots=True)
class Removal:
    """A tag (or, with `tag` None, an untagged image) a policy removes, and why."""

    repository: str
    tag: str | None
    digest: str
    rule: str
    pushed_at: int  # when the tag last moved; for an untagged image, when it lost its tag
    last_pulled_at: int | None


@dataclass(frozen=True, slots=True)
class Simulation:
    scope: Scope
    target: str
    rules: Rules
    protected: bool  # a protected namespace: nothing goes
    repositories: tuple[str, ...]  # those the policy governs
    tags_examined: int
    tags_kept: int
    removals: tuple[Removal, ...]
    images_freed: int  # manifests garbage collection takes once the removals are final
    bytes_freed: int  # what that frees in the store, each shared blob counted once
    kept_reasons: tuple[tuple[str, int], ...]  # why the candidates and others stay

    @property
    def fingerprint(self) -> str:
        text = "\n".join(f"{r.repository}\t{r.tag}\t{r.digest}\t{r.rule}" for r in self.removals)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class ApplyResult:
    simulation: Simulation  # the plan the run started from
    removed: tuple[Removal, ...]  # what went: the plan, less what changed since
    skipped: tuple[Removal, ...]  # in the plan, left alone because it changed since
    restore_until: int


@dataclass
class _RepoPlan:
    repo_id: int
    name: str
    tags: list[Removal]
    untagged: list[tuple[Removal, int]]  # with the manifest id
    examined: int
    kept: dict[str, int]
    going: set[int]  # manifests unreachable once the removals are final


# -- planning ----------------------------------------------------------------------------


def _with_rules(conn: Connection, name: str, facts: list[q.TagFacts]) -> list[q.TagFacts]:
    """The tags, with those an immutable tag rule protects marked immutable (kept)."""
    protected = {hit.tag for hit in protected_tags(conn, ((name, t.name) for t in facts))}
    return [replace(t, immutable=True) if t.name in protected else t for t in facts]


def _plan_repository(
    conn: Connection, repo_id: int, name: str, rules: Rules, now: int
) -> _RepoPlan:
    facts = _with_rules(conn, name, q.tag_facts(conn, repo_id))
    decisions = decide_tags(rules, facts, now)
    kept: dict[str, int] = {}
    for d in decisions:
        if not d.goes:
            kept[d.rule] = kept.get(d.rule, 0) + 1
    tags = [
        Removal(name, d.tag.name, d.tag.digest, d.rule, d.tag.pushed_at, d.tag.last_pulled_at)
        for d in decisions
        if d.goes
    ]
    untagged = [
        (Removal(name, None, m.digest, rule, m.untagged_since, None), m.manifest_id)
        for m, rule in decide_untagged(rules, q.untagged_facts(conn, repo_id, now), now)
    ]
    # What garbage collection takes afterwards: manifests left with no tag (and what goes
    # with them), less what a kept index lists or a kept image is the subject of.
    staying = {d.tag.manifest_id for d in decisions if not d.goes}
    untagging = {d.tag.manifest_id for d in decisions if d.goes} - staying
    unlisted = {d.tag.manifest_id for d in decisions if not d.tag.listed_by_index}
    named = (untagging & unlisted) | {i for _, i in untagged}
    going = {info.id: Member(info, role_of(info)) for info in dq.manifests_by_ids(conn, named)}
    grow(conn, going, upward=False)
    for manifest_id in [i for i in going if i in staying]:
        del going[manifest_id]
    parents = dq.parents_of(conn, going)
    for manifest_id, listed_by in parents.items():
        if listed_by - going.keys():
            going.pop(manifest_id, None)
    subjects = {m.info.subject_digest for m in going.values() if m.info.subject_digest}
    present = q.subjects_present(conn, repo_id, subjects)
    going_digests = {m.info.digest for m in going.values()}
    for manifest_id, member in list(going.items()):
        subject = member.info.subject_digest
        if subject in present and subject not in going_digests:
            del going[manifest_id]
    return _RepoPlan(repo_id, name, tags, untagged, len(facts), kept, set(going))


def _governed(conn: Connection, scope: Scope, target: str) -> tuple[list[tuple[int, str]], bool]:
    """The repositories a policy on the target governs, and whether the namespace is
    protected. A namespace's policy leaves out repositories with a policy of their own."""
    if scope is Scope.REPOSITORY:
        _, protected = policy_for(conn, target)
        repo_id = repository_queries.repository_id(conn, target)
        return ([] if repo_id is None else [(repo_id, target)]), protected
    namespace = q.get_policy(conn, Scope.NAMESPACE, target)
    protected = namespace is not None and namespace.protected
    own = {row.target for row in q.list_policies(conn) if row.scope == Scope.REPOSITORY}
    return [(i, n) for i, n in q.repositories_in(conn, target) if n not in own], protected


def _plan(
    conn: Connection, scope: Scope, target: str, rules: Rules, now: int
) -> tuple[Simulation, list[_RepoPlan]]:
    repos, protected = _governed(conn, scope, target)
    plans = [] if protected else [_plan_repository(conn, i, n, rules, now) for i, n in repos]
    going = set().union(*(p.going for p in plans)) if plans else set()
    kept: dict[str, int] = {}
    for plan in plans:
        for reason, count in plan.kept.items():
            kept[reason] = kept.get(reason, 0) + count
    simulation = Simulation(
        scope=scope,
        target=target,
        rules=rules,
        protected=protected,
        repositories=tuple(n for _, n in repos),
        tags_examined=sum(p.examined for p in plans),
        tags_kept=sum(kept.values()),
        removals=tuple(r for p in plans for r in (*p.tags, *(u for u, _ in p.untagged))),
        images_freed=len(going),
        bytes_freed=reclaimable_bytes(conn, going) if going else 0,
        kept_reasons=tuple(sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
    return simulation, plans


def _saved(conn: Connection, scope: Scope, target: str) -> Policy:
    row = q.get_policy(conn, scope, target)
    if row is None:
        raise NotFound(f"no retention policy on {scope} {target}")
    return from_row(row)


def simulate(
    ctx: ManageContext, caller: Principal, scope: Scope, target: str, rules: Rules | None = None
) -> Simulation:
    """What the policy on the target (or these `rules`, not saved) would remove now."""
    require_admin(ctx.snapshot(), caller, scope, target)
    if rules is not None:
        rules.validate()
    with ctx.db.read() as conn:
        chosen = rules if rules is not None else _saved(conn, scope, target).rules
        simulation, _ = _plan(conn, scope, target, chosen, ctx.now())
    return simulation


# -- applying ----------------------------------------------------------------------------


def _key(removal: Removal) -> tuple[str | None, str, str]:
    return removal.tag, removal.digest, removal.rule


def _apply_repository(
    ctx: ManageContext,
    planned: _RepoPlan,
    policy: Policy,
    actor: str,
    address: str | None,
    now: int,
) -> tuple[list[Removal], list[Removal]]:
    wanted_tags = {_key(r) for r in planned.tags}
    wanted_untagged = {_key(r) for r, _ in planned.untagged}
    restore_until = now + ctx.retention_restore_seconds
    label = f"{policy.scope}:{policy.target}"
    removed: list[Removal] = []
    with ctx.db.write() as conn:
        again = _plan_repository(conn, planned.repo_id, planned.name, policy.rules, now)
        facts = {t.name: t for t in q.tag_facts(conn, planned.repo_id)}
        batch = uuid.uuid4().hex
        for removal in again.tags:
            fact = facts.get(removal.tag or "")
            if _key(removal) not in wanted_tags or fact is None:
                continue
            if not q.remove_tag_if_unchanged(
                conn, planned.repo_id, fact.name, fact.manifest_id, fact.pushed_at
            ):
                continue
            dq.add_deleted(
                conn, batch,
                [dq.DeletedRow(planned.repo_id, fact.digest, [fact.name], None, None, now,
                               ACTOR, restore_until, f"{label}: {removal.rule}")],
            )  # fmt: skip
            gc_queue.enqueue_manifests(conn, [fact.manifest_id], now)
            tag_queries.record_events(
                conn, planned.repo_id, [fact.name], fact.digest, "delete", now, actor
            )
            audit.record(
                conn, at=now, actor=actor, action="retention.remove",
                target=f"{planned.name}:{fact.name}", address=address,
                detail={"digest": fact.digest, "policy": label, "rule": removal.rule,
                        "restore_until": restore_until},
            )  # fmt: skip
            removed.append(removal)
        ids = [i for r, i in again.untagged if _key(r) in wanted_untagged]
        if ids:
            gc_queue.manifests_going(conn, ids, now)
            dq.delete_manifests(conn, ids)
        for removal, manifest_id in again.untagged:
            if manifest_id in ids:
                audit.record(
                    conn, at=now, actor=actor, action="retention.remove",
                    target=f"{planned.name}@{removal.digest}", address=address,
                    detail={"policy": label, "rule": removal.rule},
                )  # fmt: skip
                removed.append(removal)
    everything = [*planned.tags, *(r for r, _ in planned.untagged)]
    done = {_key(r) for r in removed}
    return removed, [r for r in everything if _key(r) not in done]


def _run(
    ctx: ManageContext, policy: Policy, actor: str, address: str | None, expect: str | None
) -> ApplyResult:
    now = ctx.now()
    with ctx.db.read() as conn:
        simulation, plans = _plan(conn, policy.scope, policy.target, policy.rules, now)
    if expect is not None and expect != simulation.fingerprint:
        raise Conflict("the registry changed since the simulation: simulate again")
    removed: list[Removal] = []
    skipped: list[Removal] = []
    for plan in plans:
        if plan.tags or plan.untagged:
            went, left = _apply_repository(ctx, plan, policy, actor, address, now)
            removed += went
            skipped += left
    with ctx.db.write() as conn:
        if policy.id:
            q.mark_run(conn, policy.id, now)
        audit.record(
            conn, at=now, actor=actor, action="retention.run",
            target=f"{policy.scope}:{policy.target}", address=address,
            detail={"removed": len(removed), "skipped": len(skipped),
                    "bytes_freed_later": simulation.bytes_freed,
                    "rules": policy.rules.describe()},
        )  # fmt: skip
    return ApplyResult(
        simulation, tuple(removed), tuple(skipped), now + ctx.retention_restore_seconds
    )


def apply(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    scope: Scope,
    target: str,
    *,
    expect: str | None = None,
) -> ApplyResult:
    """Run the saved policy on the target now (enabled or not). `expect`: the fingerprint
    of the simulation shown to the caller; Conflict when the plan differs from it."""
    require_admin(ctx.snapshot(), caller, scope, target)
    ctx.refuse_if_read_only()
    with ctx.db.read() as conn:
        policy = _saved(conn, scope, target)
    return _run(ctx, policy, caller.name, address, expect)


def run_scheduled(ctx: ManageContext, stop: threading.Event) -> list[ApplyResult]:
    """Every enabled policy not run within the interval, by one worker or replica at a
    time (a lease); each run is audited as `retention.run` by `retention`."""
    try:
        ctx.refuse_if_read_only()
    except ReadOnly as refused:
        _log.info("scheduled retention skipped", extra={"fields": {"reason": refused.message}})
        return []
    holder = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
    now = ctx.now()
    with ctx.db.write() as conn:
        if not leases.acquire(conn, LEASE, holder, now, LEASE_SECONDS):
            return []
        due = [
            row for row in q.list_policies(conn)
            if row.enabled and not row.protected
            and (row.last_run_at is None
                 or row.last_run_at <= now - ctx.retention_interval_seconds + 5)
        ]  # fmt: skip
    results: list[ApplyResult] = []
    try:
        for row in due:
            if stop.is_set():
                break
            try:
                results.append(_run(ctx, from_row(row), ACTOR, None, None))
            except Exception:  # one policy failing must not stop the others
                _log.exception("retention run failed", extra={"fields": {"policy": row.target}})
            with ctx.db.write() as conn:
                leases.renew(conn, LEASE, holder, ctx.now(), LEASE_SECONDS)
    finally:
        with ctx.db.write() as conn:
            leases.release(conn, LEASE, holder)
    return results


# -- restoring ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemovedTag:
    id: int
    repository: str
    tag: str
    digest: str
    removed_at: int
    restore_until: int
    reason: str | None


def _administered(ctx: ManageContext, caller: Principal, names: Iterable[str]) -> set[str]:
    snapshot = ctx.snapshot()
    return {n for n in names if role_on(snapshot, caller, n) is Role.ADMIN}


def removals(
    ctx: ManageContext, caller: Principal, repository: str | None = None, limit: int = 500
) -> list[RemovedTag]:
    """Tags retention removed that may still be restored, newest first: in the repository,
    or everywhere the caller administers."""
    require_active(ctx.snapshot(), caller)
    with ctx.db.read() as conn:
        repo_ids = None
        if repository is not None:
            repo_id = repository_queries.repository_id(conn, repository)
            repo_ids = [] if repo_id is None else [repo_id]
        rows = q.kept_removals(conn, repo_ids, ctx.now(), limit)
    allowed = _administered(ctx, caller, {r.repository for r in rows})
    return [
        RemovedTag(r.id, r.repository, r.tag, r.digest, r.removed_at, r.kept_until, r.reason)
        for r in rows
        if r.repository in allowed
    ]


def restore(ctx: ManageContext, caller: Principal, address: str | None, removal_id: int) -> TagRef:
    """Put a tag retention removed back where it pointed. Conflict when the tag was pushed
    again since or the image is gone; NotFound when the window is over."""
    snapshot = ctx.snapshot()
    require_active(snapshot, caller)
    refuse_if_read_only(snapshot, ctx.read_only)
    now = ctx.now()
    with ctx.db.write() as conn:
        row = q.kept_removal(conn, removal_id)
        if row is None or role_on(snapshot, caller, row.repository) is None:
            raise NotFound(f"retention removal {removal_id} not found")
        if role_on(snapshot, caller, row.repository) is not Role.ADMIN:
            raise Forbidden(f"restoring needs the admin role on {row.repository}")
        if row.kept_until < now:
            raise NotFound(f"retention removal {removal_id} can no longer be restored")
        manifest = manifest_queries.manifest_by_digest(conn, row.repository_id, row.digest)
        if manifest is None:
            raise Conflict(f"cannot restore: {row.repository}@{row.digest} is gone since")
        current = dq.tags_by_name(conn, row.repository_id, [row.tag], lock=True).get(row.tag)
        if current is not None and current[1] != row.digest:
            raise Conflict(
                f"cannot restore: {row.repository}:{row.tag} was pushed again since "
                f"(it now points at {current[1]})"
            )
        tag_queries.set_tag(
            conn, row.repository_id, row.tag, manifest.id, row.digest, now, caller.name
        )
        q.forget_removal(conn, removal_id)
        audit.record(
            conn, at=now, actor=caller.name, action="retention.restore",
            target=f"{row.repository}:{row.tag}", address=address,
            detail={"digest": row.digest, "removed_by": row.reason},
        )  # fmt: skip
    _log.info("retention removal restored", extra={"fields": {"id": removal_id}})
    return TagRef(row.repository, row.tag, row.digest)
