"""Retention policies: one per namespace or repository (a repository's replaces its
namespace's), set by whoever administers the target; protecting a namespace, or changing a
protected one, is for registry admins. Every change is audited."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from dockyard.auth.errors import Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage._checks import record, require_active
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import is_registry_admin
from dockyard.auth.principals import Principal
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.metadata.queries import retention as q
from dockyard.registry.names import namespace_of
from dockyard.registry.retention.rules import Rules
from dockyard.registry.targets import Scope, validate_target
from dockyard.registry.targets import require_admin as require_target_admin

__all__ = [
    "Policy",
    "Scope",
    "delete_policy",
    "from_row",
    "get_policy",
    "list_policies",
    "policy_for",
    "require_admin",
    "set_policy",
]


@dataclass(frozen=True, slots=True)
class Policy:
    scope: Scope
    target: str
    enabled: bool
    protected: bool
    rules: Rules
    updated_at: int
    updated_by: str | None
    last_run_at: int | None
    id: int = 0


def from_row(row: q.PolicyRow) -> Policy:
    rules = Rules(
        row.keep_last, row.keep_patterns, row.keep_pulled_days,
        row.remove_older_than_days, row.remove_untagged_after_days,
    )  # fmt: skip
    return Policy(
        Scope(row.scope), row.target, row.enabled, row.protected, rules,
        row.updated_at, row.updated_by, row.last_run_at, row.id,
    )  # fmt: skip


def require_admin(snapshot: AccessSnapshot, caller: Principal, scope: Scope, target: str) -> None:
    require_target_admin(snapshot, caller, scope, target, "retention policies")


def policy_for(conn: Connection, repository: str) -> tuple[Policy | None, bool]:
    """The policy that applies to a repository (its own, else its namespace's) and whether
    its namespace is protected (then nothing is removed, whatever the policy says)."""
    namespace = q.get_policy(conn, Scope.NAMESPACE, namespace_of(repository))
    protected = namespace is not None and namespace.protected
    own = q.get_policy(conn, Scope.REPOSITORY, repository)
    chosen = own if own is not None else namespace
    return (None if chosen is None else from_row(chosen)), protected


def list_policies(ctx: ManageContext, caller: Principal) -> list[Policy]:
    """The policies on what the caller administers."""
    snapshot = ctx.snapshot()
    require_active(snapshot, caller)
    with ctx.db.read() as conn:
        rows = q.list_policies(conn)
    found: list[Policy] = []
    for row in rows:
        try:
            require_admin(snapshot, caller, Scope(row.scope), row.target)
        except (Forbidden, NotFound):
            continue
        found.append(from_row(row))
    return found


def get_policy(ctx: ManageContext, caller: Principal, scope: Scope, target: str) -> Policy:
    snapshot = ctx.snapshot()
    require_admin(snapshot, caller, scope, validate_target(scope, target))
    with ctx.db.read() as conn:
        row = q.get_policy(conn, scope, target)
    if row is None:
        raise NotFound(f"no retention policy on {scope} {target}")
    return from_row(row)


def set_policy(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    scope: Scope,
    target: str,
    rules: Rules,
    *,
    enabled: bool,
    protected: bool = False,
) -> Policy:
    """Create or replace the policy on the target."""
    snapshot = ctx.snapshot()
    require_admin(snapshot, caller, scope, validate_target(scope, target))
    rules.validate()
    if protected and scope is not Scope.NAMESPACE:
        raise InvalidRequest("only namespaces can be protected")
    now = ctx.now()
    with ctx.db.write() as conn:
        before = q.get_policy(conn, scope, target)
        if (protected or (before is not None and before.protected)) and not is_registry_admin(
            snapshot, caller
        ):
            raise Forbidden(
                "protecting a namespace (or changing a protected one) is for registry admins"
            )
        row = q.PolicyRow(
            before.id if before else 0, scope, target, enabled, protected, rules.keep_last,
            tuple(rules.keep_patterns), rules.keep_pulled_days, rules.remove_older_than_days,
            rules.remove_untagged_after_days, now, caller.name,
            before.last_run_at if before else None,
        )  # fmt: skip
        q.save_policy(conn, row)
        record(
            conn, ctx, caller, address, "retention.policy.set", f"{scope}:{target}",
            {"enabled": enabled, "protected": protected, "rules": rules.describe()},
        )  # fmt: skip
        saved = q.get_policy(conn, scope, target)
    if saved is None:  # pragma: no cover - written just above, in this transaction
        raise NotFound(f"no retention policy on {scope} {target}")
    return from_row(saved)


def delete_policy(
    ctx: ManageContext, caller: Principal, address: str | None, scope: Scope, target: str
) -> None:
    snapshot = ctx.snapshot()
    require_admin(snapshot, caller, scope, validate_target(scope, target))
    with ctx.db.write() as conn:
        before = q.get_policy(conn, scope, target)
        if before is None:
            raise NotFound(f"no retention policy on {scope} {target}")
        if before.protected and not is_registry_admin(snapshot, caller):
            raise Forbidden("a protected namespace's policy is for registry admins")
        q.delete_policy(conn, scope, target)
        record(conn, ctx, caller, address, "retention.policy.delete", f"{scope}:{target}")
