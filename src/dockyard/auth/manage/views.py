"""What the management services return: plain values for the faces (times are UTC Unix
seconds; principals and targets are written as references, see references.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuditEntry",
    "AuditPage",
    "CreatedRobot",
    "CreatedToken",
    "GrantView",
    "GroupView",
    "Identity",
    "NamespaceView",
    "RepositoryPage",
    "RepositoryView",
    "RobotGrant",
    "RobotView",
    "TokenView",
    "UserView",
]


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller, as `GET /me` shows it."""

    name: str
    kind: str  # "user", "robot", "operator"
    admin: bool
    source: str | None  # a user's source ("local" or a directory); None otherwise


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    name: str
    source: str
    admin: bool
    disabled: bool
    display_name: str | None
    created_at: int
    last_login_at: int | None


@dataclass(frozen=True, slots=True)
class GroupView:
    id: int
    name: str
    source: str
    dn: str | None
    created_at: int
    member_count: int
    members: tuple[str, ...] | None = None  # user references; only in a group's detail


@dataclass(frozen=True, slots=True)
class NamespaceView:
    name: str
    policy: str
    created_at: int
    created_by: str | None


@dataclass(frozen=True, slots=True)
class RepositoryView:
    name: str
    namespace: str
    policy: str | None  # None: inherits the namespace's
    effective_policy: str
    created_at: int
    pushed_at: int | None
    size: int | None = None  # bytes of the blobs linked in it, where listed


@dataclass(frozen=True, slots=True)
class RepositoryPage:
    repositories: list[RepositoryView]
    next: str | None  # the last name, to pass as `last`, while more may follow


@dataclass(frozen=True, slots=True)
class GrantView:
    to: str  # "user:jane", "group:hackershop\\qa", "robot:ci"
    on: str  # "dev", "dev/app", "repository:skyfield"
    role: str
    created_at: int
    created_by: str | None


@dataclass(frozen=True, slots=True)
class RobotGrant:
    role: str
    on: str


@dataclass(frozen=True, slots=True)
class RobotView:
    name: str
    username: str  # "robot$NAME": the login name for `docker login`
    description: str | None
    created_at: int
    created_by: str | None
    expires_at: int | None
    revoked_at: int | None
    last_used_at: int | None
    grants: tuple[RobotGrant, ...]


@dataclass(frozen=True, slots=True)
class CreatedRobot:
    robot: RobotView
    secret: str  # shown once; only its hash is stored


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    name: str
    created_at: int
    expires_at: int | None
    last_used_at: int | None


@dataclass(frozen=True, slots=True)
class CreatedToken:
    token: TokenView
    secret: str  # shown once; only its hash is stored


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: int
    actor: str | None
    action: str
    target: str | None
    address: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEntry]
    next: int | None  # the id to pass as `before` while more may follow
