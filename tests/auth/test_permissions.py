"""The permission check on hand-built snapshots: every rule of DESIGN.md §Access model."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from dockyard.auth.permissions import (
    granted_actions,
    is_active,
    is_registry_admin,
    namespace_of,
    namespace_role,
    readable,
    role_on,
)
from dockyard.auth.principals import ANONYMOUS, Principal
from dockyard.auth.roles import Policy, Role
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.metadata.db import Database
from dockyard.metadata.queries import repositories
from fixtures.sql import run_sql

ADMIN = Principal.user(1, "sarah", True)
JANE = Principal.user(2, "jane", False)
GREG = Principal.user(3, "greg", False)  # in group qa (g1)
DISABLED = Principal.user(4, "gone", False)
DISABLED_ADMIN = Principal.user(5, "former", True)
NOBODY = Principal.user(9, "deleted", False)  # no row: deleted since sign-in
CI = Principal.robot(1, "robot$ci")
REVOKED = Principal.robot(2, "robot$old")
EXPIRED = Principal.robot(3, "robot$late")
OPERATOR = Principal.operator("root")

NOW = time.time()


SNAP = AccessSnapshot(
    generation=1,
    users={
        1: (True, False),
        2: (False, False),
        3: (False, False),
        4: (False, True),
        5: (True, True),
    },
    robots={1: (None, None), 2: (None, int(NOW) - 10), 3: (int(NOW) - 1, None)},
    groups_of={3: frozenset({1})},
    namespace_roles={
        "u2": {"dev": Role.WRITE},
        "g1": {"dev": Role.READ},
        "r1": {"ci": Role.WRITE},
        "r2": {"ci": Role.WRITE},
        "r3": {"ci": Role.WRITE},
        "u4": {"dev": Role.ADMIN},
    },
    repository_roles={
        "u2": {"prod/app": Role.READ, "skyfield": Role.ADMIN},
        "g1": {"dev/app": Role.WRITE, "skyfield": Role.READ},
    },
    namespace_policies={
        "dev": Policy.PRIVATE,
        "pub": Policy.ANONYMOUS,
        "team": Policy.SHARED,
    },
    repository_policies={"team/secret": Policy.PRIVATE, "dev/open": Policy.ANONYMOUS},
)


def _snapshot(**changes: Any) -> AccessSnapshot:
    return dataclasses.replace(SNAP, **changes)


def test_namespace_of_is_the_first_component() -> None:
    assert namespace_of("dev/team/app") == "dev"
    assert namespace_of("skyfield") == "skyfield"


@pytest.mark.parametrize(
    ("principal", "repository", "role"),
    [
        (JANE, "dev/app", Role.WRITE),  # namespace grant covers every repository in it
        (JANE, "dev/not-yet-pushed", Role.WRITE),  # need not exist
        (JANE, "dev", Role.WRITE),  # a repository named like its namespace lives in it
        (JANE, "prod/app", Role.READ),  # repository grant covers that repository
        (JANE, "prod/other", None),  # and nothing beside it
        (JANE, "devx/app", None),  # namespace match is by component, not prefix
        (JANE, "skyfield", Role.ADMIN),  # a one-component repository's own grant
        (GREG, "dev/app", Role.WRITE),  # group repository grant beats group namespace read
        (GREG, "dev/other", Role.READ),  # group namespace grant
        (GREG, "skyfield", Role.READ),
        (GREG, "prod/app", None),
    ],
)
def test_grants_on_namespaces_and_repositories(
    principal: Principal, repository: str, role: Role | None
) -> None:
    assert role_on(SNAP, principal, repository) is role


def test_strongest_role_wins_between_user_and_group() -> None:
    snapshot = _snapshot(
        namespace_roles={"u3": {"dev": Role.ADMIN}, "g1": {"dev": Role.READ}},
        repository_roles={"g1": {"dev/app": Role.WRITE}},
    )
    assert role_on(snapshot, GREG, "dev/app") is Role.ADMIN
    assert namespace_role(snapshot, GREG, "dev") is Role.ADMIN


def test_namespace_role_counts_only_namespace_grants() -> None:
    assert namespace_role(SNAP, JANE, "dev") is Role.WRITE
    assert namespace_role(SNAP, JANE, "prod") is None  # a repository grant inside is not one
    assert namespace_role(SNAP, JANE, "skyfield") is None
    assert namespace_role(SNAP, GREG, "dev") is Role.READ  # through the group
    assert namespace_role(SNAP, JANE, "team") is None  # policies do not count


@pytest.mark.parametrize(
    ("principal", "repository", "role"),
    [
        (ANONYMOUS, "pub/app", Role.READ),  # anonymous policy: anyone pulls
        (ANONYMOUS, "team/app", None),  # shared needs a sign-in
        (ANONYMOUS, "dev/app", None),
        (ANONYMOUS, "dev/open", Role.READ),  # a repository's own policy overrides
        (JANE, "team/app", Role.READ),  # shared: every signed-in user
        (JANE, "team/secret", None),  # a private repository in a shared namespace
        (JANE, "pub/app", Role.READ),
        (JANE, "nowhere/app", None),  # no namespace row: private
        (CI, "team/app", None),  # robots never get shared
        (CI, "pub/app", Role.READ),  # but anonymous pull, like anyone
        (CI, "dev/open", Role.READ),
        (GREG, "dev/open", Role.READ),  # policy read, group namespace read: read
        (JANE, "dev/open", Role.WRITE),  # a grant stronger than the policy wins
    ],
)
def test_policies(principal: Principal, repository: str, role: Role | None) -> None:
    assert role_on(SNAP, principal, repository) is role


def test_robot_holds_only_its_own_grants() -> None:
    assert role_on(SNAP, CI, "ci/build") is Role.WRITE
    assert role_on(SNAP, CI, "dev/app") is None
    assert namespace_role(SNAP, CI, "ci") is Role.WRITE
    assert not is_registry_admin(SNAP, CI)


@pytest.mark.parametrize("robot", [REVOKED, EXPIRED, Principal.robot(99, "robot$gone")])
def test_revoked_expired_or_deleted_robot_holds_nothing(robot: Principal) -> None:
    assert not is_active(SNAP, robot)
    assert role_on(SNAP, robot, "ci/build") is None
    assert role_on(SNAP, robot, "pub/app") is None  # not even anonymous pull
    assert namespace_role(SNAP, robot, "ci") is None
    assert granted_actions(SNAP, robot, "repository", "ci/build", frozenset({"pull"})) == set()
    assert readable(SNAP, robot).where() is not None
    assert not readable(SNAP, robot).everything
    assert readable(SNAP, robot).policy_namespaces == frozenset()


def test_robot_expiry_is_checked_against_now() -> None:
    snapshot = _snapshot(robots={1: (int(NOW) + 60, None)})
    assert is_active(snapshot, CI, now=NOW)
    assert not is_active(snapshot, CI, now=NOW + 61)


@pytest.mark.parametrize("user", [DISABLED, DISABLED_ADMIN, NOBODY])
def test_disabled_or_deleted_user_holds_nothing(user: Principal) -> None:
    assert not is_active(SNAP, user)
    assert not is_registry_admin(SNAP, user)
    assert role_on(SNAP, user, "dev/app") is None
    assert role_on(SNAP, user, "pub/app") is None
    assert namespace_role(SNAP, user, "dev") is None
    assert readable(SNAP, user) == readable(SNAP, REVOKED)


def test_registry_admin_is_admin_everywhere() -> None:
    assert is_registry_admin(SNAP, ADMIN)
    assert role_on(SNAP, ADMIN, "anything/at/all") is Role.ADMIN
    assert namespace_role(SNAP, ADMIN, "nowhere") is Role.ADMIN
    assert readable(SNAP, ADMIN).everything
    actions = frozenset({"pull", "push", "delete", "*"})
    assert granted_actions(SNAP, ADMIN, "repository", "x/y", actions) == actions


def test_admin_flag_on_the_principal_is_not_trusted() -> None:
    # The snapshot decides: a principal built as admin whose row is not one is not one.
    pretender = Principal.user(2, "jane", True)
    assert not is_registry_admin(SNAP, pretender)
    assert role_on(SNAP, pretender, "prod/other") is None


def test_operator_is_registry_admin() -> None:
    assert is_active(SNAP, OPERATOR)
    assert is_registry_admin(SNAP, OPERATOR)
    assert role_on(SNAP, OPERATOR, "dev/app") is Role.ADMIN
    assert readable(SNAP, OPERATOR).everything


def test_anonymous_is_never_admin_and_reads_only_anonymous_policies() -> None:
    assert is_active(SNAP, ANONYMOUS)
    assert not is_registry_admin(SNAP, ANONYMOUS)
    assert namespace_role(SNAP, ANONYMOUS, "pub") is None
    flt = readable(SNAP, ANONYMOUS)
    assert (flt.everything, flt.namespaces) == (False, frozenset())
    assert flt.policy_namespaces == {"pub"}
    assert flt.repositories == {"dev/open"}  # opened by its own policy


def test_readable_collects_grants_of_user_and_groups() -> None:
    flt = readable(SNAP, GREG)
    assert flt.namespaces == {"dev"}
    assert flt.repositories == {"dev/app", "dev/open", "skyfield"}
    assert flt.policy_namespaces == {"pub", "team"}
    assert flt.excluded == {"team/secret"}  # closed by its own policy in a shared namespace
    robot = readable(SNAP, CI)
    assert robot.namespaces == {"ci"}
    assert robot.policy_namespaces == {"pub"}  # anonymous pull, never "shared"


@pytest.mark.parametrize(
    ("principal", "repository", "actions"),
    [
        (GREG, "dev/other", {"pull"}),
        (JANE, "dev/app", {"pull", "push"}),
        (JANE, "skyfield", {"pull", "push", "delete"}),
        (ANONYMOUS, "pub/app", {"pull"}),
        (ANONYMOUS, "dev/app", set()),
    ],
)
def test_token_actions_follow_the_role(
    principal: Principal, repository: str, actions: set[str]
) -> None:
    asked = frozenset({"pull", "push", "delete"})
    assert granted_actions(SNAP, principal, "repository", repository, asked) == actions


def test_catalog_for_every_signed_in_caller_only() -> None:
    asked = frozenset({"*"})
    assert granted_actions(SNAP, JANE, "registry", "catalog", asked) == asked
    assert granted_actions(SNAP, CI, "registry", "catalog", asked) == asked
    assert granted_actions(SNAP, ANONYMOUS, "registry", "catalog", asked) == set()
    assert granted_actions(SNAP, DISABLED, "registry", "catalog", asked) == set()
    assert granted_actions(SNAP, JANE, "registry", "other", asked) == set()


_REPOSITORIES = [
    *("dev/app", "dev/open", "dev/other", "team/x", "team/secret", "pub/app"),
    *("prod/app", "prod/other", "skyfield", "skyfield/sub", "ci/build", "other/x"),
]


@pytest.mark.parametrize(
    "principal", [ADMIN, JANE, GREG, DISABLED, CI, REVOKED, ANONYMOUS, OPERATOR]
)
def test_readable_filter_agrees_with_role_on(db: Database, principal: Principal) -> None:
    """The SQL filter lists exactly the repositories `role_on` gives a role on."""
    with db.write() as conn:
        for name in _REPOSITORIES:
            repositories.ensure_repository(conn, name, namespace_of(name), 0)
        for name, policy in SNAP.namespace_policies.items():
            run_sql(conn, "UPDATE namespace SET policy = ? WHERE name = ?", (policy, name))
        for name, policy in SNAP.repository_policies.items():
            run_sql(conn, "UPDATE repository SET policy = ? WHERE name = ?", (policy, name))
    with db.read() as conn:
        listed = repositories.repository_names(conn, None, 100, readable(SNAP, principal))
    expected = sorted(n for n in _REPOSITORIES if role_on(SNAP, principal, n) is not None)
    assert listed == expected
