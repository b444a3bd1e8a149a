"""The permission check: the one function every face asks "may this caller do that?".

The identity issue extends it with grants to users, groups and robots on namespaces and
repositories, and with per-namespace access policies; every caller already goes through here.
"""

from __future__ import annotations

from dockyard.auth.principals import Principal
from dockyard.auth.scopes import ALL_ACTIONS

__all__ = ["allows", "granted_actions"]

_REPOSITORY_ACTIONS = ALL_ACTIONS
_CATALOG_ACTIONS = frozenset({"*"})


def granted_actions(
    principal: Principal, resource_type: str, name: str, requested: frozenset[str]
) -> frozenset[str]:
    """The subset of `requested` actions `principal` may take on the resource.

    Registry admins may do everything; nobody else has a grant yet, and anonymous access
    is off by default.
    """
    if resource_type == "repository":
        known = requested & _REPOSITORY_ACTIONS
    elif resource_type == "registry" and name == "catalog":
        known = requested & _CATALOG_ACTIONS
    else:
        return frozenset()
    if principal.is_admin:
        return known
    return frozenset()


def allows(granted: frozenset[str], action: str) -> bool:
    """Whether a set of granted actions covers `action` (`*` covers every action)."""
    return action in granted or "*" in granted
