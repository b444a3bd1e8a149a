"""Robot and personal-token services: secrets shown once and stored hashed, scoped
creation, visibility, revocation that takes effect, nothing secret in the audit log."""

from __future__ import annotations

import pytest

from dockyard.auth.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage import ManageContext, grants, namespaces, repositories, robots, tokens
from dockyard.auth.permissions import is_active
from dockyard.auth.principals import Principal
from dockyard.auth.token_secrets import SecretKind, matches, parse_secret
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit, identities
from fixtures.manage import OPERATOR, add_user


@pytest.fixture
def jane(ctx: ManageContext, db: Database) -> Principal:
    """Admin of namespace dev (with dev/app); prod exists beside it."""
    user = add_user(db, "jane")
    namespaces.create_namespace(ctx, user, None, "dev")
    repositories.create_repository(ctx, user, None, "dev/app")
    namespaces.create_namespace(ctx, OPERATOR, None, "prod")
    return user


def test_robot_secret_is_shown_once_and_stored_hashed(
    ctx: ManageContext, db: Database, jane: Principal
) -> None:
    created = robots.create_robot(
        ctx, jane, "10.0.0.7", "ci", [("write", "dev"), ("read", "dev/app")], "builds", 30
    )
    robot = created.robot
    assert (robot.name, robot.username, robot.description, robot.created_by) == (
        "ci",
        "robot$ci",
        "builds",
        "jane",
    )
    assert robot.expires_at is not None
    assert 29 * 86400 < robot.expires_at - robot.created_at <= 30 * 86400
    assert {(g.role, g.on) for g in robot.grants} == {("write", "dev"), ("read", "dev/app")}
    secret = parse_secret(created.secret)
    assert secret is not None
    assert secret.kind is SecretKind.ROBOT
    with db.read() as conn:
        row = identities.robot_secret(conn, secret.row_id)
        events = audit.list_events(conn, action="robot")
    assert row is not None
    assert row.name == "ci"
    assert matches(secret, row.secret_hash)
    assert secret.random not in row.secret_hash
    assert created.secret not in repr(events)
    assert secret.random not in repr(events)
    assert robots.get_robot(ctx, jane, "robot$ci") == robot


def test_robot_creation_is_scoped(ctx: ManageContext, db: Database, jane: Principal) -> None:
    with pytest.raises(NotFound):  # prod: jane may not know it exists
        robots.create_robot(ctx, jane, None, "ci", [("write", "dev"), ("read", "prod")])
    with pytest.raises(NotFound):
        robots.create_robot(ctx, jane, None, "ci", [("write", "dev/missing")])
    with pytest.raises(Forbidden):  # only registry admins make robots without grants
        robots.create_robot(ctx, jane, None, "ci", [])
    with pytest.raises(InvalidRequest):
        robots.create_robot(ctx, jane, None, "ci", [("read", "dev"), ("write", "dev")])
    with pytest.raises(InvalidRequest):
        robots.create_robot(ctx, jane, None, "CI!", [("read", "dev")])
    with pytest.raises(InvalidRequest):
        robots.create_robot(ctx, jane, None, "ci", [("read", "dev")], expires_in_days=0)
    josh = add_user(db, "josh")
    grants.set_grant(ctx, jane, None, "write", "user:josh", "dev")
    with pytest.raises(Forbidden):  # write is not enough to mint credentials for dev
        robots.create_robot(ctx, josh, None, "mine", [("read", "dev")])
    robots.create_robot(ctx, jane, None, "ci", [("read", "dev")])
    with pytest.raises(AlreadyExists):
        robots.create_robot(ctx, OPERATOR, None, "ci", [])
    bot = Principal.robot(1, "robot$ci")
    grants.set_grant(ctx, jane, None, "admin", "robot:ci", "dev")
    with pytest.raises(Forbidden):  # robots do not mint robots
        robots.create_robot(ctx, bot, None, "child", [("read", "dev")])


def test_robot_visibility_and_revocation(ctx: ManageContext, db: Database, jane: Principal) -> None:
    robots.create_robot(ctx, jane, None, "ci", [("write", "dev")])
    robots.create_robot(ctx, OPERATOR, None, "both", [("read", "dev"), ("read", "prod")])
    robots.create_robot(ctx, OPERATOR, None, "prod-only", [("read", "prod")])
    josh = add_user(db, "josh")
    assert [r.name for r in robots.list_robots(ctx, jane)] == ["both", "ci"]
    assert [r.name for r in robots.list_robots(ctx, OPERATOR)] == ["both", "ci", "prod-only"]
    assert robots.list_robots(ctx, josh) == []
    with pytest.raises(NotFound):
        robots.get_robot(ctx, jane, "prod-only")
    with pytest.raises(NotFound):
        robots.revoke_robot(ctx, josh, None, "ci")
    with pytest.raises(Forbidden):  # "both" also holds prod, which jane does not administer
        robots.revoke_robot(ctx, jane, None, "both")
    bot = Principal.robot(1, "robot$ci")
    assert is_active(ctx.snapshot(), bot)
    robots.revoke_robot(ctx, jane, "10.0.0.8", "ci")
    robots.revoke_robot(ctx, jane, None, "ci")  # again: no change, no error
    assert not is_active(ctx.snapshot(), bot)
    assert robots.get_robot(ctx, jane, "ci").revoked_at is not None
    with db.read() as conn:
        assert len(audit.list_events(conn, action="robot.revoke")) == 1


def test_robot_expiry_ends_it(ctx: ManageContext, jane: Principal) -> None:
    created = robots.create_robot(ctx, jane, None, "ci", [("write", "dev")], expires_in_days=1)
    bot = Principal.robot(1, "robot$ci")
    expires_at = created.robot.expires_at
    assert expires_at is not None
    assert is_active(ctx.snapshot(), bot, now=expires_at - 1)
    assert not is_active(ctx.snapshot(), bot, now=expires_at)


def test_personal_tokens(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    josh = add_user(db, "josh")
    created = tokens.create_token(ctx, jane, "10.0.0.9", "laptop", expires_in_days=7)
    secret = parse_secret(created.secret)
    assert secret is not None
    assert secret.kind is SecretKind.PERSONAL
    assert secret.row_id == created.token.id
    with db.read() as conn:
        row = identities.personal_token(conn, created.token.id)
    assert row is not None
    assert row.owner_id == jane.id
    assert matches(secret, row.secret_hash)
    with pytest.raises(AlreadyExists):
        tokens.create_token(ctx, jane, None, "laptop")
    tokens.create_token(ctx, josh, None, "laptop")  # names are per user
    assert [t.name for t in tokens.list_tokens(ctx, jane)] == ["laptop"]
    with pytest.raises(NotFound):  # josh's view of jane's token: none
        tokens.revoke_token(ctx, josh, None, created.token.id)
    tokens.revoke_token(ctx, jane, None, created.token.id)
    assert tokens.list_tokens(ctx, jane) == []
    with db.read() as conn:
        assert identities.personal_token(conn, created.token.id) is None
        events = audit.list_events(conn, action="token")
    assert [e.action for e in events] == ["token.revoke", "token.create", "token.create"]
    assert secret.random not in repr(events)
    tokens.create_token(ctx, jane, None, "laptop")  # the name is free again


def test_tokens_are_for_people(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    created = tokens.create_token(ctx, jane, None, "ci box")
    for who in (Principal.robot(1, "robot$ci"), OPERATOR):
        with pytest.raises(Forbidden):
            tokens.create_token(ctx, who, None, "x")
    with pytest.raises(InvalidRequest):
        tokens.create_token(ctx, jane, None, "")
    with pytest.raises(InvalidRequest):
        tokens.create_token(ctx, jane, None, "x", expires_in_days=5000)
    tokens.revoke_token(ctx, OPERATOR, None, created.token.id)  # registry admins revoke any
    assert tokens.list_tokens(ctx, jane) == []
