"""Roles and access policies: the vocabulary of grants (DESIGN.md §Access model)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ROLE_ACTIONS", "Policy", "Role", "stronger"]


class Role(StrEnum):
    READ = "read"
    """Pull; see the repository in lists, search and the catalog."""
    WRITE = "write"
    """Read, and push."""
    ADMIN = "admin"
    """Write, and delete, and manage grants and policies of what it is granted on."""


_RANK = {Role.READ: 1, Role.WRITE: 2, Role.ADMIN: 3}

ROLE_ACTIONS: dict[Role, frozenset[str]] = {
    Role.READ: frozenset({"pull"}),
    Role.WRITE: frozenset({"pull", "push"}),
    Role.ADMIN: frozenset({"pull", "push", "delete"}),
}


def stronger(a: Role | None, b: Role | None) -> Role | None:
    """The higher of two roles (None is no role)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if _RANK[a] >= _RANK[b] else b


class Policy(StrEnum):
    PRIVATE = "private"
    """Only grants give access."""
    SHARED = "shared"
    """Every signed-in user may pull (robots still need grants)."""
    ANONYMOUS = "anonymous"
    """Anyone may pull, without credentials."""
