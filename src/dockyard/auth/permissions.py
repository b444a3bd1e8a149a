"""The permission check: the one place that answers "may this caller do that?".

Every face asks here: `/v2` and the token endpoint (`granted_actions`), the admin API and the
console (`role_on`, `namespace_role`), and every list, search and the catalog (`readable`,
the filter they all apply). Rules (DESIGN.md §Access model):
- registry admins may do everything;
- a role granted on a namespace covers every repository in it; one granted on a repository
  covers that repository; a user also holds the roles of their groups; the strongest wins;
- a repository's policy (its own, else its namespace's) may add pull for every signed-in user
  ("shared") or for anyone ("anonymous"); robots hold only their own grants and anonymous pull;
- disabled users and revoked or expired robots hold nothing.
"""

from __future__ import annotations

import time

from dockyard.auth.principals import Principal, PrincipalKind
from dockyard.auth.roles import ROLE_ACTIONS, Policy, Role, stronger
from dockyard.auth.scopes import ALL_ACTIONS
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.metadata.queries.repositories import RepositoryFilter

__all__ = [
    "administers_something",
    "allows",
    "granted_actions",
    "is_active",
    "is_registry_admin",
    "namespace_of",
    "namespace_role",
    "readable",
    "role_on",
]

_CATALOG_ACTIONS = frozenset({"*"})


def namespace_of(repository: str) -> str:
    """The first path component: `dev/team/app` and `dev` both live in namespace `dev`."""
    return repository.split("/", 1)[0]


def is_active(snapshot: AccessSnapshot, principal: Principal, now: float | None = None) -> bool:
    """Whether the principal still exists and may act (not disabled, revoked or expired)."""
    kind = principal.kind
    if kind is PrincipalKind.USER:
        state = snapshot.users.get(principal.id)
        return state is not None and not state[1]
    if kind is PrincipalKind.ROBOT:
        robot = snapshot.robots.get(principal.id)
        if robot is None or robot[1] is not None:
            return False
        expires_at = robot[0]
        return expires_at is None or (now if now is not None else time.time()) < expires_at
    return True  # anonymous, operator


def is_registry_admin(snapshot: AccessSnapshot, principal: Principal) -> bool:
    if principal.kind is PrincipalKind.OPERATOR:
        return True
    if principal.kind is not PrincipalKind.USER:
        return False
    state = snapshot.users.get(principal.id)
    return state is not None and state[0] and not state[1]


def _keys(snapshot: AccessSnapshot, principal: Principal) -> list[str]:
    kind = principal.kind
    if kind is PrincipalKind.USER:
        groups = snapshot.groups_of.get(principal.id, frozenset())
        return [f"u{principal.id}", *(f"g{g}" for g in groups)]
    if kind is PrincipalKind.ROBOT:
        return [f"r{principal.id}"]
    return []


def _policy_role(principal: Principal, policy: Policy) -> Role | None:
    if policy is Policy.ANONYMOUS:
        return Role.READ
    if policy is Policy.SHARED and principal.kind is PrincipalKind.USER:
        return Role.READ
    return None


def role_on(snapshot: AccessSnapshot, principal: Principal, repository: str) -> Role | None:
    """The principal's effective role on a repository (which need not exist yet)."""
    if not is_active(snapshot, principal):
        return None
    if is_registry_admin(snapshot, principal):
        return Role.ADMIN
    namespace = namespace_of(repository)
    granted = snapshot.role_from_grants(_keys(snapshot, principal), namespace, repository)
    policy = snapshot.policy_of(namespace, repository)
    return stronger(granted, _policy_role(principal, policy))


def namespace_role(snapshot: AccessSnapshot, principal: Principal, namespace: str) -> Role | None:
    """The role held on a namespace as a whole (grants on the namespace, or registry admin);
    policies and repository grants do not count."""
    if not is_active(snapshot, principal):
        return None
    if is_registry_admin(snapshot, principal):
        return Role.ADMIN
    return snapshot.role_from_grants(_keys(snapshot, principal), namespace, None)


def administers_something(snapshot: AccessSnapshot, principal: Principal) -> bool:
    """Registry admins, and whoever holds the admin role on a namespace or a repository:
    the people the console's Administration screens are for."""
    if not is_active(snapshot, principal):
        return False
    if is_registry_admin(snapshot, principal):
        return True
    for key in _keys(snapshot, principal):
        for roles in (snapshot.namespace_roles, snapshot.repository_roles):
            if Role.ADMIN in roles.get(key, {}).values():
                return True
    return False


def granted_actions(
    snapshot: AccessSnapshot,
    principal: Principal,
    resource_type: str,
    name: str,
    requested: frozenset[str],
) -> frozenset[str]:
    """The subset of `requested` token actions the principal may take on the resource."""
    if resource_type == "repository":
        if is_registry_admin(snapshot, principal):  # an admin who is disabled is not one
            return requested & ALL_ACTIONS
        role = role_on(snapshot, principal, name)
        return requested & ROLE_ACTIONS[role] if role is not None else frozenset()
    if resource_type == "registry" and name == "catalog":
        # Every signed-in caller may list; the catalog shows only what they may read.
        if principal.is_anonymous or not is_active(snapshot, principal):
            return frozenset()
        return requested & _CATALOG_ACTIONS
    return frozenset()


def allows(granted: frozenset[str], action: str) -> bool:
    """Whether a set of granted actions covers `action` (`*` covers every action)."""
    return action in granted or "*" in granted


def readable(snapshot: AccessSnapshot, principal: Principal) -> RepositoryFilter:
    """What the principal may read: the filter every list, search and the catalog apply.
    It agrees with `role_on(...) is not None` for every repository (a test checks that)."""
    if not is_active(snapshot, principal):
        return RepositoryFilter(everything=False)
    if is_registry_admin(snapshot, principal):
        return RepositoryFilter(everything=True)
    namespaces: set[str] = set()
    repositories: set[str] = set()
    for key in _keys(snapshot, principal):
        namespaces.update(snapshot.namespace_roles.get(key, {}))
        repositories.update(snapshot.repository_roles.get(key, {}))

    def opens(policy: Policy) -> bool:
        return _policy_role(principal, policy) is not None

    policy_namespaces = {
        name for name, policy in snapshot.namespace_policies.items() if opens(policy)
    } - namespaces
    excluded: set[str] = set()
    for name, policy in snapshot.repository_policies.items():
        if opens(policy):
            repositories.add(name)  # opened by its own policy, whatever its namespace's
        elif namespace_of(name) in policy_namespaces:
            excluded.add(name)  # closed by its own policy inside an open namespace
    return RepositoryFilter(
        everything=False,
        namespaces=frozenset(namespaces),
        policy_namespaces=frozenset(policy_namespaces),
        excluded=frozenset(excluded - repositories),
        repositories=frozenset(repositories),
    )
