"""Namespace and repository services: creation and its admin grant, visibility, policies,
listing only what may be read, no existence oracle."""

from __future__ import annotations

import dataclasses

import pytest

from dockyard.auth.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage import ManageContext, grants, namespaces, repositories
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Policy
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit
from fixtures.manage import OPERATOR, add_user


def test_creator_becomes_namespace_admin(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    created = namespaces.create_namespace(ctx, jane, "10.1.1.1", "team")
    assert (created.name, created.policy, created.created_by) == ("team", "private", "jane")
    assert [(g.to, g.on, g.role) for g in grants.list_grants(ctx, jane)] == [
        ("user:jane", "team", "admin")
    ]
    with pytest.raises(AlreadyExists):
        namespaces.create_namespace(ctx, OPERATOR, None, "team")
    with db.read() as conn:
        event = audit.list_events(conn, action="namespace.create")[0]
    assert (event.actor, event.target, event.address) == ("jane", "namespace:team", "10.1.1.1")


def test_who_may_create_namespaces(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    robot = Principal.robot(1, "robot$ci")
    with pytest.raises(Forbidden):
        namespaces.create_namespace(ctx, robot, None, "bots")
    admins_only = dataclasses.replace(ctx, namespace_creation="admins")
    with pytest.raises(Forbidden):
        namespaces.create_namespace(admins_only, jane, None, "team")
    with pytest.raises(NotFound):  # nor through a repository in a new namespace, refused
        repositories.create_repository(admins_only, jane, None, "team/app")  # as if hidden
    namespaces.create_namespace(admins_only, OPERATOR, None, "team")
    with pytest.raises(InvalidRequest):
        namespaces.create_namespace(ctx, OPERATOR, None, "a/b")


def test_namespace_visibility_and_policy(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    josh = add_user(db, "josh")
    namespaces.create_namespace(ctx, jane, None, "team")
    namespaces.create_namespace(ctx, OPERATOR, None, "other")
    assert [n.name for n in namespaces.list_namespaces(ctx, jane)] == ["team"]
    assert namespaces.list_namespaces(ctx, josh) == []
    assert [n.name for n in namespaces.list_namespaces(ctx, OPERATOR)] == ["other", "team"]
    with pytest.raises(NotFound):  # josh may not know that team exists
        namespaces.get_namespace(ctx, josh, "team")
    with pytest.raises(NotFound):
        namespaces.set_namespace_policy(ctx, josh, None, "team", Policy.SHARED)
    with pytest.raises(NotFound):  # the same answer for a namespace that does not exist
        namespaces.set_namespace_policy(ctx, josh, None, "nothing", Policy.SHARED)
    view = namespaces.set_namespace_policy(ctx, jane, None, "team", Policy.SHARED)
    assert view.policy == "shared"
    # Shared: josh reads what is inside, so he sees the namespace, but may not change it.
    repositories.create_repository(ctx, jane, None, "team/app")
    assert [n.name for n in namespaces.list_namespaces(ctx, josh)] == ["team"]
    assert namespaces.get_namespace(ctx, josh, "team").policy == "shared"
    with pytest.raises(Forbidden):
        namespaces.set_namespace_policy(ctx, josh, None, "team", Policy.PRIVATE)


def test_create_repository_needs_write_on_the_namespace(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    josh = add_user(db, "josh")
    namespaces.create_namespace(ctx, jane, None, "team")
    grants.set_grant(ctx, jane, None, "read", "user:josh", "team")
    with pytest.raises(Forbidden):  # josh sees team (read) but may not write in it
        repositories.create_repository(ctx, josh, None, "team/app")
    grants.set_grant(ctx, jane, None, "write", "user:josh", "team")
    view = repositories.create_repository(ctx, josh, None, "team/app", Policy.ANONYMOUS)
    assert (view.name, view.namespace, view.policy, view.effective_policy) == (
        "team/app",
        "team",
        "anonymous",
        "anonymous",
    )
    with pytest.raises(AlreadyExists):
        repositories.create_repository(ctx, jane, None, "team/app")
    eric = add_user(db, "eric")
    with pytest.raises(Forbidden):  # eric reads team/app (anonymous): he knows team exists
        repositories.create_repository(ctx, eric, None, "team/other")
    namespaces.create_namespace(ctx, jane, None, "hidden")
    with pytest.raises(NotFound):  # but he may not know that hidden exists
        repositories.create_repository(ctx, eric, None, "hidden/app")


def test_create_repository_in_a_new_namespace(ctx: ManageContext, db: Database) -> None:
    sarah = add_user(db, "sarah", admin=True)
    view = repositories.create_repository(ctx, sarah, None, "skyfield")
    assert (view.name, view.namespace, view.policy, view.effective_policy) == (
        "skyfield",
        "skyfield",
        None,
        "private",
    )
    assert namespaces.get_namespace(ctx, sarah, "skyfield").created_by == "sarah"
    with db.read() as conn:
        actions = [e.action for e in audit.list_events(conn)]
    assert actions == ["repository.create", "namespace.create"]


def test_repository_visibility_and_policy(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    josh = add_user(db, "josh")
    repositories.create_repository(ctx, jane, None, "team/app")
    with pytest.raises(NotFound):
        repositories.get_repository(ctx, josh, "team/app")
    with pytest.raises(NotFound):
        repositories.get_repository(ctx, josh, "team/missing")
    with pytest.raises(NotFound):
        repositories.set_policy(ctx, josh, None, "team/app", Policy.ANONYMOUS)
    namespaces.set_namespace_policy(ctx, jane, None, "team", Policy.SHARED)
    assert repositories.get_repository(ctx, josh, "team/app").effective_policy == "shared"
    with pytest.raises(Forbidden):
        repositories.set_policy(ctx, josh, None, "team/app", Policy.ANONYMOUS)
    with pytest.raises(NotFound):  # jane administers team, but there is no such repository
        repositories.set_policy(ctx, jane, None, "team/missing", Policy.PRIVATE)
    view = repositories.set_policy(ctx, jane, None, "team/app", Policy.PRIVATE)
    assert (view.policy, view.effective_policy) == ("private", "private")
    with pytest.raises(NotFound):  # private again: josh loses sight of it
        repositories.get_repository(ctx, josh, "team/app")
    view = repositories.set_policy(ctx, jane, None, "team/app", None)
    assert (view.policy, view.effective_policy) == (None, "shared")


def test_list_repositories_pages_through_what_is_readable(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    josh = add_user(db, "josh")
    for name in ("team/a", "team/b", "team/c", "other/x", "open/y"):
        repositories.create_repository(ctx, OPERATOR, None, name)
    namespaces.set_namespace_policy(ctx, OPERATOR, None, "open", Policy.ANONYMOUS)
    grants.set_grant(ctx, OPERATOR, None, "read", "user:jane", "team")
    grants.set_grant(ctx, OPERATOR, None, "read", "user:jane", "other/x")
    names: list[str] = []
    last = None
    while True:
        page = repositories.list_repositories(ctx, jane, last=last, n=2)
        names += [r.name for r in page.repositories]
        if page.next is None:
            break
        last = page.next
    assert names == ["open/y", "other/x", "team/a", "team/b", "team/c"]
    only_team = repositories.list_repositories(ctx, jane, namespace="team")
    assert [r.name for r in only_team.repositories] == ["team/a", "team/b", "team/c"]
    assert only_team.next is None
    assert [r.name for r in repositories.list_repositories(ctx, josh).repositories] == ["open/y"]
    assert len(repositories.list_repositories(ctx, OPERATOR).repositories) == 5
