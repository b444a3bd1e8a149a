"""What the caller administers: the console's Administration screens start here, and
namespace admins see only their own namespaces there (registry admins see all)."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.manage._checks import require_active
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import is_registry_admin, namespace_of, namespace_role, role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.metadata.queries import namespaces

__all__ = ["AdminScope", "administered"]


@dataclass(frozen=True, slots=True)
class AdminScope:
    registry_admin: bool
    namespaces: tuple[str, ...]  # administered as a whole, by name
    repositories: tuple[str, ...]  # administered on their own, outside those namespaces

    @property
    def anything(self) -> bool:
        return self.registry_admin or bool(self.namespaces or self.repositories)


def administered(ctx: ManageContext, actor: Principal) -> AdminScope:
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    with ctx.db.read() as conn:
        names = [row.name for row in namespaces.list_namespaces(conn)]
    owned = tuple(name for name in names if namespace_role(snapshot, actor, name) is Role.ADMIN)
    if is_registry_admin(snapshot, actor):
        return AdminScope(True, owned, ())
    granted = {repo for roles in snapshot.repository_roles.values() for repo in roles}
    repositories = sorted(
        repo
        for repo in granted
        if namespace_of(repo) not in owned and role_on(snapshot, actor, repo) is Role.ADMIN
    )
    return AdminScope(False, owned, tuple(repositories))
