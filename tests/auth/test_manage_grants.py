"""Grant services: who may grant on what, targets that must exist, replacing and revoking,
listing only grants on what the caller administers; and that grants take effect."""

from __future__ import annotations

import pytest

from dockyard.auth.errors import Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage import ManageContext, grants, groups, namespaces, repositories, robots
from dockyard.auth.permissions import role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit
from fixtures.manage import add_user


@pytest.fixture
def people(ctx: ManageContext, db: Database) -> dict[str, Principal]:
    """sarah (registry admin) made `skyfield` and `dev/app`; jane administers namespace dev."""
    found = {name: add_user(db, name) for name in ("jane", "josh", "greg")}
    found["sarah"] = add_user(db, "sarah", admin=True)
    repositories.create_repository(ctx, found["sarah"], None, "skyfield")
    namespaces.create_namespace(ctx, found["jane"], None, "dev")
    repositories.create_repository(ctx, found["jane"], None, "dev/app")
    return found


def _role(ctx: ManageContext, who: Principal, repository: str) -> Role | None:
    return role_on(ctx.snapshot(), who, repository)


def test_the_story_grants(ctx: ManageContext, people: dict[str, Principal]) -> None:
    sarah, josh, greg = people["sarah"], people["josh"], people["greg"]
    groups.create_group(ctx, sarah, None, "qa")
    groups.add_member(ctx, sarah, None, "qa", "greg")
    view = grants.set_grant(ctx, sarah, "10.0.0.5", "write", "user:josh", "repository:skyfield")
    assert (view.to, view.on, view.role, view.created_by) == (
        "user:josh",
        "repository:skyfield",
        "write",
        "sarah",
    )
    grants.set_grant(ctx, sarah, None, "read", "group:qa", "repository:skyfield")
    assert _role(ctx, josh, "skyfield") is Role.WRITE
    assert _role(ctx, greg, "skyfield") is Role.READ
    assert _role(ctx, greg, "dev/app") is None
    listed = {
        (g.to, g.on, g.role) for g in grants.list_grants(ctx, sarah, on="repository:skyfield")
    }
    assert listed == {
        ("user:josh", "repository:skyfield", "write"),
        ("group:qa", "repository:skyfield", "read"),
    }


def test_setting_again_replaces_the_role(ctx: ManageContext, people: dict[str, Principal]) -> None:
    sarah, josh = people["sarah"], people["josh"]
    grants.set_grant(ctx, sarah, None, "write", "user:josh", "dev")
    grants.set_grant(ctx, sarah, None, "read", "user:josh", "dev")
    assert [(g.role) for g in grants.list_grants(ctx, sarah, to="user:josh")] == ["read"]
    assert _role(ctx, josh, "dev/app") is Role.READ
    grants.revoke_grant(ctx, sarah, None, "user:josh", "dev")
    assert _role(ctx, josh, "dev/app") is None
    with pytest.raises(NotFound):
        grants.revoke_grant(ctx, sarah, None, "user:josh", "dev")


def test_targets_must_exist(ctx: ManageContext, people: dict[str, Principal]) -> None:
    sarah, jane = people["sarah"], people["jane"]
    with pytest.raises(NotFound):  # repositories are created ahead of push, then granted
        grants.set_grant(ctx, sarah, None, "read", "user:josh", "dev/later")
    with pytest.raises(NotFound):
        grants.set_grant(ctx, jane, None, "read", "user:josh", "dev/later")
    with pytest.raises(NotFound):
        grants.set_grant(ctx, sarah, None, "read", "user:josh", "nowhere")
    with pytest.raises(NotFound):  # bare skyfield is the namespace; this one is a repository
        grants.set_grant(ctx, sarah, None, "read", "user:josh", "repository:dev")
    grants.set_grant(ctx, sarah, None, "read", "user:josh", "skyfield")  # the namespace exists
    with pytest.raises(NotFound):
        grants.set_grant(ctx, sarah, None, "read", "user:nobody", "skyfield")
    with pytest.raises(NotFound):
        grants.set_grant(ctx, sarah, None, "read", "robot:nobody", "skyfield")


@pytest.mark.parametrize(
    ("role", "to", "on"),
    [
        ("owner", "user:josh", "dev"),
        ("read", "josh", "dev"),
        ("read", "team:x", "dev"),
        ("read", "user:", "dev"),
        ("read", "user:josh", ""),
        ("read", "user:josh", "namespace:a/b"),
        ("read", "user:josh", "tag:dev"),
    ],
)
def test_malformed_grants(
    ctx: ManageContext, people: dict[str, Principal], role: str, to: str, on: str
) -> None:
    with pytest.raises(InvalidRequest):
        grants.set_grant(ctx, people["sarah"], None, role, to, on)


def test_namespace_admin_grants_in_their_namespace_only(
    ctx: ManageContext, people: dict[str, Principal]
) -> None:
    jane, josh = people["jane"], people["josh"]
    grants.set_grant(ctx, jane, None, "write", "user:josh", "dev")
    grants.set_grant(ctx, jane, None, "admin", "user:greg", "dev/app")
    with pytest.raises(NotFound):  # jane may not even know skyfield exists
        grants.set_grant(ctx, jane, None, "read", "user:josh", "repository:skyfield")
    with pytest.raises(Forbidden):  # josh writes in dev but does not administer it
        grants.set_grant(ctx, josh, None, "read", "user:greg", "dev")
    with pytest.raises(Forbidden):
        grants.revoke_grant(ctx, josh, None, "user:jane", "dev")


def test_repository_admin_grants_on_their_repository_only(
    ctx: ManageContext, people: dict[str, Principal]
) -> None:
    jane, greg = people["jane"], people["greg"]
    grants.set_grant(ctx, jane, None, "admin", "user:greg", "dev/app")
    grants.set_grant(ctx, greg, None, "read", "user:josh", "dev/app")
    with pytest.raises(Forbidden):  # greg sees dev through dev/app, but is no namespace admin
        grants.set_grant(ctx, greg, None, "read", "user:josh", "dev")
    visible = {(g.to, g.on) for g in grants.list_grants(ctx, greg)}
    assert visible == {("user:greg", "dev/app"), ("user:josh", "dev/app")}
    jane_sees = {(g.to, g.on) for g in grants.list_grants(ctx, jane)}
    assert jane_sees == visible | {("user:jane", "dev")}
    assert grants.list_grants(ctx, people["josh"]) == []


def test_list_filters(ctx: ManageContext, people: dict[str, Principal]) -> None:
    sarah = people["sarah"]
    grants.set_grant(ctx, sarah, None, "read", "user:josh", "dev")
    grants.set_grant(ctx, sarah, None, "read", "user:josh", "dev/app")
    assert [g.on for g in grants.list_grants(ctx, sarah, to="user:josh")] == ["dev", "dev/app"]
    assert [g.on for g in grants.list_grants(ctx, sarah, to="user:josh", on="dev")] == ["dev"]
    assert grants.list_grants(ctx, sarah, to="user:nobody") == []
    assert grants.list_grants(ctx, sarah, on="dev/missing") == []


def test_robots_and_groups_are_grantees(ctx: ManageContext, people: dict[str, Principal]) -> None:
    jane = people["jane"]
    created = robots.create_robot(ctx, jane, None, "ci", [("read", "dev")])
    grants.set_grant(ctx, jane, None, "write", "robot:ci", "dev/app")
    robot = Principal.robot(1, "robot$ci")
    assert _role(ctx, robot, "dev/app") is Role.WRITE
    assert _role(ctx, robot, "dev/other") is Role.READ
    assert created.robot.grants[0].on == "dev"
    grants.revoke_grant(ctx, jane, None, "robot:robot$ci", "dev/app")
    assert _role(ctx, robot, "dev/app") is Role.READ


def test_grants_are_audited(ctx: ManageContext, db: Database, people: dict[str, Principal]) -> None:
    sarah = people["sarah"]
    grants.set_grant(ctx, sarah, "10.9.9.9", "read", "user:josh", "dev/app")
    grants.revoke_grant(ctx, sarah, "10.9.9.9", "user:josh", "dev/app")
    with db.read() as conn:
        events = audit.list_events(conn, action="grant")
    assert [(e.action, e.actor, e.target, e.address, e.detail) for e in events] == [
        ("grant.revoke", "sarah", "repository:dev/app", "10.9.9.9", {"to": "user:josh"}),
        (
            "grant.set",
            "sarah",
            "repository:dev/app",
            "10.9.9.9",
            {"to": "user:josh", "role": "read"},
        ),
    ]
