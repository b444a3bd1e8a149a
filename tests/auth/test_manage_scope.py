"""What a caller administers (the console's Administration screens start from it), and the
groups a user belongs to (a user's page)."""

from __future__ import annotations

import pytest

from dockyard.auth.errors import Forbidden, NotFound
from dockyard.auth.manage import ManageContext, grants, groups, namespaces, repositories
from dockyard.auth.manage.scope import AdminScope, administered
from dockyard.auth.permissions import administers_something
from dockyard.metadata.db import Database
from fixtures.manage import OPERATOR, add_user


def test_registry_admins_administer_everything(ctx: ManageContext, db: Database) -> None:
    sarah = add_user(db, "sarah", admin=True)
    namespaces.create_namespace(ctx, OPERATOR, None, "dev")
    namespaces.create_namespace(ctx, OPERATOR, None, "prod")
    assert administered(ctx, sarah) == AdminScope(True, ("dev", "prod"), ())
    assert administers_something(ctx.snapshot(), sarah)


def test_namespace_and_repository_admins_see_what_they_administer(
    ctx: ManageContext, db: Database
) -> None:
    nadia, rory, greg = add_user(db, "nadia"), add_user(db, "rory"), add_user(db, "greg")
    for name in ("dev/app", "dev/tool", "prod/app"):
        repositories.create_repository(ctx, OPERATOR, None, name)
    groups.create_group(ctx, OPERATOR, None, "ops")
    groups.add_member(ctx, OPERATOR, None, "ops", "nadia")
    grants.set_grant(ctx, OPERATOR, None, "admin", "group:ops", "dev")
    grants.set_grant(ctx, OPERATOR, None, "admin", "user:nadia", "dev/app")  # inside dev
    grants.set_grant(ctx, OPERATOR, None, "admin", "user:rory", "prod/app")
    grants.set_grant(ctx, OPERATOR, None, "write", "user:greg", "dev")

    assert administered(ctx, nadia) == AdminScope(False, ("dev",), ())
    assert administered(ctx, rory) == AdminScope(False, (), ("prod/app",))
    assert administered(ctx, greg) == AdminScope(False, (), ())
    assert not administered(ctx, greg).anything
    snapshot = ctx.snapshot()
    assert administers_something(snapshot, nadia)
    assert administers_something(snapshot, rory)
    assert not administers_something(snapshot, greg)


def test_groups_of_a_user(ctx: ManageContext, db: Database) -> None:
    sarah = add_user(db, "sarah", admin=True)
    greg = add_user(db, "greg")
    for name in ("qa", "ops", "web"):
        groups.create_group(ctx, OPERATOR, None, name)
    groups.add_member(ctx, OPERATOR, None, "qa", "greg")
    groups.add_member(ctx, OPERATOR, None, "web", "greg")
    assert [g.name for g in groups.groups_of(ctx, sarah, "greg")] == ["qa", "web"]
    assert groups.groups_of(ctx, sarah, "sarah") == []
    with pytest.raises(NotFound):
        groups.groups_of(ctx, sarah, "nobody")
    with pytest.raises(Forbidden):
        groups.groups_of(ctx, greg, "greg")
