"""Errors of the management services (users, groups, namespaces, repositories, grants, robots,
tokens, audit). They carry no HTTP status: each face maps them in one table.

AccessError
├── NotFound           no such thing, or the caller may not even see it (no existence
│                      oracle, pitfalls §27: both answer the same)
├── Forbidden          the caller sees it but may not do this
├── Conflict           the change contradicts the current state (the last registry admin,
│   │                  deleting yourself)
│   └── AlreadyExists  the name is taken
├── InvalidRequest     malformed input, or an operation that does not apply to this thing
│                      (a directory user's password, a directory group's members)
├── Unavailable        a directory that must be asked did not answer
└── ReadOnly           the registry is in read-only maintenance mode: no pushes, no deletes

Messages are safe to show the caller: they never hold a password or secret.
"""

from __future__ import annotations

__all__ = [
    "AccessError",
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "ReadOnly",
    "Unavailable",
]


class AccessError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(AccessError):
    pass


class Forbidden(AccessError):
    pass


class Conflict(AccessError):
    pass


class AlreadyExists(Conflict):
    pass


class InvalidRequest(AccessError):
    pass


class Unavailable(AccessError):
    pass


class ReadOnly(AccessError):
    pass
