"""Who is asking: a user (local or from a directory), a robot account, or nobody."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["ANONYMOUS", "Principal", "PrincipalKind"]


class PrincipalKind(StrEnum):
    USER = "user"
    """A person, local or from a directory; may belong to groups."""
    ROBOT = "robot"
    """An automation account: only its own grants apply, never shared policies."""
    ANONYMOUS = "anonymous"
    """No credentials: only anonymous-pull policies apply."""
    OPERATOR = "operator"
    """The `dockyard` CLI working on the data directory itself: whoever can open the
    database is a registry admin already. Named after the OS account in the audit log."""


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller. `subject` ("user:3", "robot:7") is stable across renames and unique across
    identity sources; `name` is what people read ("jane", "hackershop\\jane", "robot$ci")."""

    subject: str
    name: str
    is_admin: bool = False
    by_token: bool = field(default=False, compare=False)
    """Signed in with a personal access token rather than a password: such a caller may not
    change the password or mint more tokens (a leaked token must not outlive revocation)."""
    # Parsed once from `subject`: the permission check reads them on every request.
    kind: PrincipalKind = field(init=False, compare=False, repr=False)
    id: int = field(init=False, compare=False, repr=False)
    """The user's or robot's row id (0 for anonymous and the operator)."""

    def __post_init__(self) -> None:
        prefix, _, number = self.subject.partition(":")
        kind = PrincipalKind(prefix) if prefix else PrincipalKind.ANONYMOUS
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "id", int(number) if number else 0)

    @property
    def is_anonymous(self) -> bool:
        return self.subject == ""

    @staticmethod
    def user(user_id: int, name: str, is_admin: bool, *, by_token: bool = False) -> Principal:
        return Principal(f"user:{user_id}", name, is_admin, by_token)

    @staticmethod
    def robot(robot_id: int, name: str) -> Principal:
        return Principal(f"robot:{robot_id}", name)

    @staticmethod
    def operator(os_user: str) -> Principal:
        return Principal("operator:0", f"cli:{os_user}", is_admin=True)


ANONYMOUS = Principal(subject="", name="")
