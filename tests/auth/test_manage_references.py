"""References to principals and targets, and naming directory people and groups before
their first sign-in (a real slapd holding hackershop.lan)."""

from __future__ import annotations

import dataclasses

import pytest

from dockyard.auth.errors import InvalidRequest, NotFound, Unavailable
from dockyard.auth.ldap import Directory
from dockyard.auth.manage import ManageContext, grants, groups, repositories, users
from dockyard.auth.manage.references import (
    PrincipalRef,
    SubjectKind,
    TargetKind,
    TargetRef,
    parse_principal,
    parse_target,
    render_target,
)
from dockyard.auth.permissions import role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.config import DirectoryConfig
from dockyard.metadata.db import Database
from dockyard.metadata.queries import users as user_rows
from fixtures.manage import OPERATOR, add_user, unreachable_directory
from fixtures.slapd import ODD_USER, Slapd

USER, GROUP, ROBOT = SubjectKind.USER, SubjectKind.GROUP, SubjectKind.ROBOT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user:jane", PrincipalRef(USER, "jane", None)),
        ("user:Jane", PrincipalRef(USER, "jane", None)),  # case-folded, as at sign-in
        ("user:hackershop\\jane", PrincipalRef(USER, "jane", "hackershop")),
        ("user:HackerShop\\JANE", PrincipalRef(USER, "jane", "hackershop")),
        ("user:local\\jane", PrincipalRef(USER, "jane", "local")),
        ("group:ops (night)", PrincipalRef(GROUP, "ops (night)", None)),
        ("group:cn=QA,ou=groups,dc=x", PrincipalRef(GROUP, "cn=QA,ou=groups,dc=x", None)),
        ("group:hackershop\\cn=qa,dc=x", PrincipalRef(GROUP, "cn=qa,dc=x", "hackershop")),
        ("robot:ci", PrincipalRef(ROBOT, "ci", None)),
        ("robot:robot$ci", PrincipalRef(ROBOT, "ci", None)),
        (" user:jane ", PrincipalRef(USER, "jane", None)),
    ],
)
def test_parse_principal(text: str, expected: PrincipalRef) -> None:
    assert parse_principal(text) == expected


@pytest.mark.parametrize("text", ["jane", "team:x", "user:", "group:", ":jane", "user:a\0b"])
def test_parse_principal_refuses(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_principal(text)


def test_parse_principal_with_a_known_kind() -> None:
    assert parse_principal("jane", USER) == PrincipalRef(USER, "jane", None)
    assert parse_principal("user:jane", USER) == PrincipalRef(USER, "jane", None)
    with pytest.raises(InvalidRequest):
        parse_principal("group:qa", USER)


@pytest.mark.parametrize(
    ("text", "expected", "written"),
    [
        ("dev", TargetRef(TargetKind.NAMESPACE, "dev"), "dev"),
        ("skyfield", TargetRef(TargetKind.NAMESPACE, "skyfield"), "skyfield"),
        ("dev/app", TargetRef(TargetKind.REPOSITORY, "dev/app"), "dev/app"),
        ("dev/a/b", TargetRef(TargetKind.REPOSITORY, "dev/a/b"), "dev/a/b"),
        (
            "repository:skyfield",
            TargetRef(TargetKind.REPOSITORY, "skyfield"),
            "repository:skyfield",
        ),
        ("repository:dev/app", TargetRef(TargetKind.REPOSITORY, "dev/app"), "dev/app"),
        ("namespace:dev", TargetRef(TargetKind.NAMESPACE, "dev"), "dev"),
    ],
)
def test_parse_and_write_targets(text: str, expected: TargetRef, written: str) -> None:
    target = parse_target(text)
    assert target == expected
    assert render_target(target.kind, target.name) == str(target) == written
    assert parse_target(written) == target  # what is listed can be given back


@pytest.mark.parametrize("text", ["", "namespace:", "namespace:a/b", "tag:dev", "x" * 1025])
def test_parse_target_refuses(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_target(text)


# --- directories ---------------------------------------------------------------------------


@pytest.fixture
def hackershop(ctx: ManageContext, slapd: Slapd) -> ManageContext:
    directory = Directory(DirectoryConfig(**slapd.directory_config()))
    return dataclasses.replace(ctx, directories=[directory])


def _principal(db: Database, name: str, source: str = "hackershop") -> Principal:
    with db.read() as conn:
        row = user_rows.user_by_name(conn, name, source=source)
    assert row is not None, f"{source}\\{name} not provisioned"
    return Principal.user(row.id, f"{source}\\{name}", False)


@pytest.mark.slow
def test_grant_to_people_and_groups_before_they_sign_in(
    hackershop: ManageContext, db: Database
) -> None:
    ctx = hackershop
    repositories.create_repository(ctx, OPERATOR, None, "skyfield")
    for name in ("josh", "eric", "jane"):
        view = grants.set_grant(ctx, OPERATOR, None, "write", f"user:{name}", "repository:skyfield")
        assert view.to == f"user:hackershop\\{name}"
    view = grants.set_grant(ctx, OPERATOR, None, "read", "group:qa", "repository:skyfield")
    assert view.to == "group:hackershop\\qa"
    snapshot = ctx.snapshot()
    assert role_on(snapshot, _principal(db, "josh"), "skyfield") is Role.WRITE
    # greg is in qa: naming him provisions him with his groups, so the group grant holds
    # before his first sign-in too.
    groups.create_group(ctx, OPERATOR, None, "testers")
    groups.add_member(ctx, OPERATOR, None, "testers", "greg")
    assert groups.get_group(ctx, OPERATOR, "testers").members == ("hackershop\\greg",)
    assert role_on(ctx.snapshot(), _principal(db, "greg"), "skyfield") is Role.READ
    listed = {(u.source, u.name, u.display_name) for u in users.list_users(ctx, OPERATOR)}
    assert ("hackershop", "greg", "Greg") in listed


@pytest.mark.slow
def test_names_dns_and_qualifiers(hackershop: ManageContext, db: Database, slapd: Slapd) -> None:
    ctx = hackershop
    repositories.create_repository(ctx, OPERATOR, None, "dev/app")
    add_user(db, "jane")  # a local jane: the unqualified name is hers
    assert grants.set_grant(ctx, OPERATOR, None, "read", "user:jane", "dev").to == "user:jane"
    qualified = grants.set_grant(ctx, OPERATOR, None, "read", "user:hackershop\\jane", "dev")
    assert qualified.to == "user:hackershop\\jane"
    by_dn = grants.set_grant(ctx, OPERATOR, None, "read", f"group:{slapd.group_dn('qa')}", "dev")
    assert by_dn.to == "group:hackershop\\qa"
    odd = grants.set_grant(ctx, OPERATOR, None, "read", f"user:{ODD_USER}", "dev")
    assert odd.to == f"user:hackershop\\{ODD_USER}"
    assert grants.set_grant(ctx, OPERATOR, None, "read", "group:ops (night)", "dev").to == (
        "group:hackershop\\ops (night)"
    )
    with pytest.raises(NotFound):
        grants.set_grant(ctx, OPERATOR, None, "read", "user:nobody", "dev")
    with pytest.raises(NotFound):
        grants.set_grant(ctx, OPERATOR, None, "read", "user:local\\josh", "dev")
    with pytest.raises(NotFound):
        grants.set_grant(ctx, OPERATOR, None, "read", "user:elsewhere\\josh", "dev")
    with pytest.raises(NotFound):  # a wildcard is a name to look up, not a pattern
        grants.set_grant(ctx, OPERATOR, None, "read", "user:j*", "dev")


@pytest.mark.slow
def test_unreachable_directory(ctx: ManageContext, db: Database) -> None:
    down = dataclasses.replace(ctx, directories=[unreachable_directory()])
    repositories.create_repository(down, OPERATOR, None, "dev/app")
    with pytest.raises(Unavailable):
        grants.set_grant(down, OPERATOR, None, "read", "user:josh", "dev")
    # Local users and identities already known keep working.
    add_user(db, "eric")
    assert grants.set_grant(down, OPERATOR, None, "read", "user:eric", "dev").to == "user:eric"
    groups.create_group(down, OPERATOR, None, "qa")
    assert grants.set_grant(down, OPERATOR, None, "read", "group:qa", "dev").to == "group:qa"
