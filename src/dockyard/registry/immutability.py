"""Immutable tag rules: in a namespace or a repository, tags whose name matches a glob
cannot be moved or deleted once they exist (creating one is a push like any other, and
pushing the same digest again changes nothing). The rules are checked in the write
transaction of every push, OCI delete, console or API delete, retention run, tag revert and
promotion. Whoever administers the target may add a rule; only registry admins remove one
or override it for one delete or move, and the override is audited.

A rule applies to writes whose transaction reads it after it committed: a push that checked
the rules just before a new rule committed may still land (as a request authorised just
before a grant is revoked), and the rule holds for everything after.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from dockyard.auth.errors import Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage._checks import record, require_active, require_registry_admin
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import is_registry_admin
from dockyard.auth.principals import Principal
from dockyard.metadata.queries import immutability as q
from dockyard.registry.names import namespace_of
from dockyard.registry.targets import Scope, require_admin, validate_target

__all__ = [
    "ImmutableHit",
    "Rule",
    "add_rule",
    "list_rules",
    "protected_tags",
    "refuse_unless_overridden",
    "remove_rule",
    "rule_for",
]

_MAX_PATTERN = 128


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    scope: Scope
    target: str
    pattern: str
    created_at: int
    created_by: str | None

    def governs(self, repository: str) -> bool:
        if self.scope is Scope.NAMESPACE:
            return namespace_of(repository) == self.target
        return repository == self.target

    def matches(self, tag: str) -> bool:
        return fnmatch.fnmatchcase(tag, self.pattern)

    def describe(self) -> str:
        return f"immutable tag rule #{self.id} ({self.scope} {self.target}, tags {self.pattern})"


@dataclass(frozen=True, slots=True)
class ImmutableHit:
    """A tag a write would move or remove, and the rule that forbids it."""

    repository: str
    tag: str
    rule: Rule

    @property
    def message(self) -> str:
        return f"tag {self.repository}:{self.tag} is immutable: {self.rule.describe()}"


def _rule(row: q.RuleRow) -> Rule:
    return Rule(row.id, Scope(row.scope), row.target, row.pattern, row.created_at, row.created_by)


def protected_tags(conn: Connection, tags: Iterable[tuple[str, str]]) -> list[ImmutableHit]:
    """Which of the (repository, tag) pairs a rule makes immutable, with the first rule that
    does (the oldest); one query whatever the number of repositories."""
    pairs = list(dict.fromkeys(tags))
    if not pairs:
        return []
    rules = [_rule(row) for row in q.rules_for(conn, ((namespace_of(r), r) for r, _ in pairs))]
    hits = []
    for repository, tag in pairs:
        for rule in rules:
            if rule.governs(repository) and rule.matches(tag):
                hits.append(ImmutableHit(repository, tag, rule))
                break
    return hits


def rule_for(conn: Connection, repository: str, tag: str) -> ImmutableHit | None:
    hits = protected_tags(conn, [(repository, tag)])
    return hits[0] if hits else None


def refuse_unless_overridden(
    ctx: ManageContext, caller: Principal, hits: list[ImmutableHit], override: bool
) -> list[str]:
    """Raise Forbidden naming the rule unless a registry admin asked to override; returns
    the overridden tags (`repository:tag`) for the audit record."""
    if not hits:
        return []
    if override and is_registry_admin(ctx.snapshot(), caller):
        return [f"{hit.repository}:{hit.tag}" for hit in hits]
    more = f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""
    suffix = (
        "; only a registry admin may override"
        if not override
        else ("; overriding is for registry admins")
    )
    raise Forbidden(hits[0].message + more + suffix)


def _pattern(pattern: str) -> str:
    pattern = pattern.strip()
    if not pattern or len(pattern) > _MAX_PATTERN or any(c.isspace() for c in pattern):
        raise InvalidRequest(
            f"a tag pattern is a glob of 1 to {_MAX_PATTERN} characters without spaces "
            "(e.g. '*' or 'v*')"
        )
    return pattern


def list_rules(ctx: ManageContext, caller: Principal) -> list[Rule]:
    """Every rule: they say what may not change, which anyone signed in may know."""
    require_active(ctx.snapshot(), caller)
    with ctx.db.read() as conn:
        return [_rule(row) for row in q.list_rules(conn)]


def add_rule(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    scope: Scope,
    target: str,
    pattern: str = "*",
) -> Rule:
    """Make the target's tags matching `pattern` immutable (the same rule twice is one)."""
    snapshot = ctx.snapshot()
    require_admin(snapshot, caller, scope, validate_target(scope, target), "immutable tag rules")
    pattern = _pattern(pattern)
    with ctx.db.write() as conn:
        row = q.add_rule(conn, scope, target, pattern, ctx.now(), caller.name)
        record(
            conn, ctx, caller, address, "immutable.rule.add", f"{scope}:{target}",
            {"rule": row.id, "pattern": pattern},
        )  # fmt: skip
    return _rule(row)


def remove_rule(ctx: ManageContext, caller: Principal, address: str | None, rule_id: int) -> Rule:
    """Lift a rule: for registry admins only (whoever it protects against may be an admin
    of the namespace)."""
    require_registry_admin(ctx.snapshot(), caller)
    with ctx.db.write() as conn:
        row = q.get_rule(conn, rule_id)
        if row is None or not q.delete_rule(conn, rule_id):
            raise NotFound(f"immutable tag rule #{rule_id} not found")
        record(
            conn, ctx, caller, address, "immutable.rule.remove", f"{row.scope}:{row.target}",
            {"rule": row.id, "pattern": row.pattern},
        )  # fmt: skip
    return _rule(row)
