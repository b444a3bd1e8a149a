"""Queries on immutable tag rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, delete, or_, select

from dockyard.metadata.models import ImmutableTagRule, table_of
from dockyard.metadata.queries._upsert import insert_ignore

__all__ = ["RuleRow", "add_rule", "delete_rule", "get_rule", "list_rules", "rules_for"]

_rule = table_of(ImmutableTagRule)


@dataclass(frozen=True, slots=True)
class RuleRow:
    id: int
    scope: str
    target: str
    pattern: str
    created_at: int
    created_by: str | None


def _select() -> Select[Any]:
    return select(
        _rule.c.id, _rule.c.scope, _rule.c.target, _rule.c.pattern,
        _rule.c.created_at, _rule.c.created_by,
    )  # fmt: skip


def _row(row: Row[Any]) -> RuleRow:
    return RuleRow(
        int(row.id), row.scope, row.target, row.pattern, int(row.created_at), row.created_by
    )


def rules_for(conn: Connection, repositories: Iterable[tuple[str, str]]) -> list[RuleRow]:
    """The rules that govern the given (namespace, repository) pairs: each namespace's and
    each repository's own."""
    pairs = list(dict.fromkeys(repositories))
    if not pairs:
        return []
    namespaces = sorted({namespace for namespace, _ in pairs})
    names = sorted({name for _, name in pairs})
    query = _select().where(
        or_(
            and_(_rule.c.target.in_(namespaces), _rule.c.scope == "namespace"),
            and_(_rule.c.target.in_(names), _rule.c.scope == "repository"),
        )
    )
    return [_row(row) for row in conn.execute(query.order_by(_rule.c.id))]


def list_rules(conn: Connection) -> list[RuleRow]:
    query = _select().order_by(_rule.c.target, _rule.c.scope, _rule.c.pattern)
    return [_row(row) for row in conn.execute(query)]


def get_rule(conn: Connection, rule_id: int) -> RuleRow | None:
    row = conn.execute(_select().where(_rule.c.id == rule_id)).first()
    return None if row is None else _row(row)


def add_rule(
    conn: Connection, scope: str, target: str, pattern: str, now: int, actor: str | None
) -> RuleRow:
    """The rule, created unless the same one exists (then that one, unchanged)."""
    insert_ignore(
        conn,
        _rule,
        {"scope": scope, "target": target, "pattern": pattern, "created_at": now,
         "created_by": actor},
        ["target", "scope", "pattern"],
    )  # fmt: skip
    row = conn.execute(
        _select().where(
            _rule.c.target == target, _rule.c.scope == scope, _rule.c.pattern == pattern
        )
    ).one()
    return _row(row)


def delete_rule(conn: Connection, rule_id: int) -> bool:
    return conn.execute(delete(_rule).where(_rule.c.id == rule_id)).rowcount == 1
