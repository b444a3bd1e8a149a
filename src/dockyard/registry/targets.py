"""What a namespace-or-repository setting (a retention policy, an immutable tag rule) is
set on, and who may set it."""

from __future__ import annotations

from enum import StrEnum

from dockyard.auth.errors import Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage._checks import require_active
from dockyard.auth.permissions import namespace_role, role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.registry.errors import NameInvalid
from dockyard.registry.names import validate_name

__all__ = ["Scope", "require_admin", "validate_target"]


class Scope(StrEnum):
    NAMESPACE = "namespace"
    REPOSITORY = "repository"


def validate_target(scope: Scope, target: str) -> str:
    try:
        if scope is Scope.NAMESPACE:
            if "/" in target:
                raise InvalidRequest(f"{target!r} is not a namespace (it has a '/')")
            validate_name(target)
        else:
            validate_name(target)
            if "/" not in target:
                raise InvalidRequest(f"{target!r} is a namespace, not a repository")
    except NameInvalid as err:
        raise InvalidRequest(err.message) from None
    return target


def require_admin(
    snapshot: AccessSnapshot, caller: Principal, scope: Scope, target: str, what: str
) -> None:
    """Admin on the namespace as a whole, or on the repository. A caller who cannot read the
    target is told it does not exist (pitfalls §27)."""
    require_active(snapshot, caller)
    if scope is Scope.NAMESPACE:
        role = namespace_role(snapshot, caller, target)
        readable = role is not None or role_on(snapshot, caller, f"{target}/x") is not None
    else:
        role = role_on(snapshot, caller, target)
        readable = role is not None
    if role is Role.ADMIN:
        return
    if not readable:
        raise NotFound(f"{scope} {target} not found")
    raise Forbidden(f"{what} need the admin role on {scope} {target}")
