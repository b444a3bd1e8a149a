"""References to principals (`user:NAME`, `group:NAME`, `robot:NAME`) and to targets
(`NAMESPACE`, `NAMESPACE/REPO`, `namespace:NAME`, `repository:NAME`): parsing, writing and
finding what they name.

A user or group NAME may be qualified by its source, `hackershop\\jane` (pitfalls §23: a
directory account named `admin` is not the local `admin`). Unqualified, it means the local one
if it exists, else the first configured directory that knows it: a row of that directory in
the database, else a lookup with the directory's service account, after which the identity is
provisioned (so a grant may name someone before their first sign-in). Names are case-folded,
as at sign-in; a group may also be named by its DN.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection

from dockyard.auth.errors import InvalidRequest, NotFound, Unavailable
from dockyard.auth.ldap import DirectoryGroup, DirectoryUnavailable, DirectoryUser
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import namespace_of
from dockyard.metadata.queries import groups, identities, namespaces, repositories, robots, users

__all__ = [
    "LOCAL",
    "DirectoryFind",
    "PrincipalRef",
    "Subject",
    "SubjectKind",
    "TargetKind",
    "TargetRef",
    "find_subject",
    "locate",
    "parse_principal",
    "parse_target",
    "qualified",
    "render_principal",
    "render_target",
    "settle",
    "target_key",
]

_log = logging.getLogger("dockyard.auth")
LOCAL = "local"
ROBOT_PREFIX = "robot$"
_QUALIFIED = re.compile(r"^(local|[a-z][a-z0-9-]{0,62})\\(.+)$", re.IGNORECASE | re.DOTALL)
_MAX_REF = 1024


class SubjectKind(StrEnum):
    USER = "user"
    GROUP = "group"
    ROBOT = "robot"


_KEY_PREFIX = {SubjectKind.USER: "u", SubjectKind.GROUP: "g", SubjectKind.ROBOT: "r"}
_SUBJECT_KINDS = frozenset(kind.value for kind in SubjectKind)


@dataclass(frozen=True, slots=True)
class PrincipalRef:
    kind: SubjectKind
    name: str
    source: str | None  # None: unqualified; never set for robots

    def __str__(self) -> str:
        return render_principal(self.kind, self.source, self.name)


@dataclass(frozen=True, slots=True)
class Subject:
    """A principal that exists in the database."""

    kind: SubjectKind
    id: int
    source: str | None  # None for robots
    name: str

    @property
    def key(self) -> str:
        """Its grant key: "u3", "g2", "r5"."""
        return f"{_KEY_PREFIX[self.kind]}{self.id}"

    @property
    def ref(self) -> str:
        return render_principal(self.kind, self.source, self.name)


@dataclass(frozen=True, slots=True)
class DirectoryFind:
    """Found by asking a directory; not in the database until `settle`."""

    directory: str
    user: DirectoryUser | None = None
    group: DirectoryGroup | None = None


def qualified(source: str | None, name: str) -> str:
    """A user's or group's name as people write it: `jane`, `hackershop\\jane`."""
    return name if source in (None, LOCAL) else f"{source}\\{name}"


def render_principal(kind: SubjectKind, source: str | None, name: str) -> str:
    return f"{kind}:{qualified(None if kind is SubjectKind.ROBOT else source, name)}"


def _is_dn(name: str) -> bool:
    return "=" in name


def parse_principal(text: str, kind: SubjectKind | None = None) -> PrincipalRef:
    """`KIND:NAME`. With `kind` given the prefix may be left out (`/users/jane`)."""
    prefix, sep, rest = text.strip().partition(":")
    if sep and prefix in _SUBJECT_KINDS:
        found = SubjectKind(prefix)
        if kind is not None and found is not kind:
            raise InvalidRequest(f"expected a {kind} reference")
        name = rest
    elif kind is not None:
        found, name = kind, text.strip()
    else:
        raise InvalidRequest("a principal reads user:NAME, group:NAME or robot:NAME")
    if not name or len(name) > _MAX_REF or "\0" in name:
        raise InvalidRequest(f"empty or overlong {found} name")
    if found is SubjectKind.ROBOT:
        return PrincipalRef(found, name.removeprefix(ROBOT_PREFIX), None)
    source: str | None = None
    match = _QUALIFIED.match(name)
    if match is not None:
        source, name = match[1].casefold(), match[2]
    return PrincipalRef(found, name if _is_dn(name) else name.casefold(), source)


def find_subject(conn: Connection, ref: PrincipalRef, directories: Sequence[str]) -> Subject | None:
    """What `ref` names among rows already in the database."""
    if ref.kind is SubjectKind.ROBOT:
        robot = robots.robot_by_name(conn, ref.name)
        return Subject(ref.kind, robot.id, None, robot.name) if robot else None
    for source in [ref.source] if ref.source else [LOCAL, *directories]:
        if ref.kind is SubjectKind.USER:
            user = users.user_info_by_name(conn, source, ref.name)
            if user is not None:
                return Subject(ref.kind, user.id, source, user.name)
        elif _is_dn(ref.name) and source != LOCAL:
            for group in groups.group_by_dn(conn, ref.name):
                if group.source == source:
                    return Subject(ref.kind, group.id, source, group.name)
        else:
            named = groups.group_by_name(conn, source, ref.name)
            if named is not None:
                return Subject(ref.kind, named.id, source, named.name)
    return None


def locate(ctx: ManageContext, ref: PrincipalRef) -> Subject | DirectoryFind:
    """What `ref` names: a row, else a directory entry. Blocking (it may ask directories):
    call it outside any transaction. Raises NotFound, or Unavailable when a directory that
    had to be asked could not answer."""
    with ctx.db.read() as conn:
        found = find_subject(conn, ref, [d.name for d in ctx.directories])
    if found is not None:
        return found
    if ref.kind is SubjectKind.ROBOT or ref.source == LOCAL:
        raise NotFound(f"{ref} not found")
    candidates = [d for d in ctx.directories if ref.source in (None, d.name)]
    for directory in candidates:
        try:
            if ref.kind is SubjectKind.USER:
                user = directory.find_user(ref.name)
                if user is not None:
                    return DirectoryFind(directory.name, user=user)
            else:
                group = directory.find_group(ref.name)
                if group is not None:
                    return DirectoryFind(directory.name, group=group)
        except DirectoryUnavailable as exc:
            _log.warning("directory unavailable", extra={"fields": {"error": str(exc)}})
            raise Unavailable(f"directory {directory.name} is unavailable") from exc
    raise NotFound(f"{ref} not found")


def settle(conn: Connection, located: Subject | DirectoryFind, now: int) -> Subject:
    """The row for what `locate` found, provisioning a directory identity (inside the
    write transaction; the caller bumps the access generation)."""
    if isinstance(located, Subject):
        return located
    source = located.directory
    if located.user is not None:
        user = located.user
        user_id = identities.link_directory_user(
            conn, source, user.external_id, user.username, user.dn, user.display_name, now
        )
        memberships = [(group.name, group.dn) for group in user.groups]
        identities.sync_directory_groups(conn, user_id, source, memberships, now)
        return Subject(SubjectKind.USER, user_id, source, user.username)
    if located.group is None:  # pragma: no cover - locate sets one of the two
        raise RuntimeError("empty directory find")
    group = located.group
    group_id = identities.ensure_directory_group(conn, source, group.name, group.dn, now)
    return Subject(SubjectKind.GROUP, group_id, source, group.name)


class TargetKind(StrEnum):
    NAMESPACE = "namespace"
    REPOSITORY = "repository"


_TARGET_KINDS = frozenset(kind.value for kind in TargetKind)


@dataclass(frozen=True, slots=True)
class TargetRef:
    kind: TargetKind
    name: str

    @property
    def namespace(self) -> str:
        return namespace_of(self.name)

    def __str__(self) -> str:
        return render_target(self.kind, self.name)


def render_target(kind: TargetKind, name: str) -> str:
    """As `on` is written: a repository without a slash needs its kind (`skyfield` alone
    is the namespace)."""
    if kind is TargetKind.NAMESPACE or "/" in name:
        return name
    return f"repository:{name}"


def parse_target(text: str) -> TargetRef:
    prefix, sep, rest = text.strip().partition(":")
    if sep and prefix in _TARGET_KINDS:
        target = TargetRef(TargetKind(prefix), rest)
    elif sep:
        raise InvalidRequest("a target reads NAMESPACE, NAMESPACE/REPO or KIND:NAME")
    else:
        kind = TargetKind.REPOSITORY if "/" in text else TargetKind.NAMESPACE
        target = TargetRef(kind, text.strip())
    if not target.name or len(target.name) > _MAX_REF:
        raise InvalidRequest("empty or overlong target name")
    if target.kind is TargetKind.NAMESPACE and "/" in target.name:
        raise InvalidRequest("a namespace name has no slash")
    return target


def target_key(conn: Connection, target: TargetRef) -> str | None:
    """Its grant key ("n4", "r9"), or None when it does not exist."""
    if target.kind is TargetKind.NAMESPACE:
        row = namespaces.namespace_by_name(conn, target.name)
        return f"n{row.id}" if row else None
    repository_id = repositories.repository_id(conn, target.name)
    return f"r{repository_id}" if repository_id is not None else None
