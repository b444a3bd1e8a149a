"""User services on a real migrated database: who may, what is refused, what is recorded."""

from __future__ import annotations

import time

import pytest

from dockyard.auth.errors import AlreadyExists, Conflict, Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage import ManageContext, users
from dockyard.auth.manage.views import Identity
from dockyard.auth.passwords import verify_password
from dockyard.auth.principals import Principal
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit, identities
from dockyard.metadata.queries import users as user_rows
from dockyard.metadata.queries.access import read_generation
from fixtures.manage import OPERATOR, add_user


def _generation(db: Database) -> int:
    with db.read() as conn:
        return read_generation(conn)


def _directory_user(db: Database, name: str) -> int:
    with db.write() as conn:
        return identities.link_directory_user(
            conn, "hackershop", f"uuid-{name}", name, f"uid={name}", name.title(), int(time.time())
        )


def test_create_user_hashes_the_password_and_audits_without_it(
    ctx: ManageContext, db: Database
) -> None:
    before = _generation(db)
    view = users.create_user(ctx, OPERATOR, "10.0.0.1", "jane", "s3cret-pass", admin=True)
    assert (view.name, view.source, view.admin, view.disabled) == ("jane", "local", True, False)
    assert _generation(db) > before
    with db.read() as conn:
        row = user_rows.user_by_name(conn, "jane")
        events = audit.list_events(conn, action="user.create")
    assert row is not None
    assert verify_password(row.password_hash, "s3cret-pass")
    assert [(e.actor, e.target, e.address, e.detail) for e in events] == [
        ("cli:tester", "user:jane", "10.0.0.1", {"admin": True})
    ]
    assert "s3cret" not in repr(events)


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("Jane", "long-enough"),
        ("-jane", "long-enough"),
        ("a" * 65, "long-enough"),
        ("jane", "short"),
        ("jane\\x", "long-enough"),
        ("", "long-enough"),
    ],
)
def test_create_user_refuses_bad_input(ctx: ManageContext, name: str, password: str) -> None:
    with pytest.raises(InvalidRequest):
        users.create_user(ctx, OPERATOR, None, name, password)


def test_create_user_refuses_a_taken_name_and_non_admins(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    with pytest.raises(AlreadyExists):
        users.create_user(ctx, OPERATOR, None, "jane", "long-enough")
    with pytest.raises(Forbidden):
        users.create_user(ctx, jane, None, "eve", "long-enough")
    with pytest.raises(Forbidden):
        users.list_users(ctx, jane)


def test_a_directory_user_does_not_collide_with_the_local_one(
    ctx: ManageContext, db: Database
) -> None:
    _directory_user(db, "admin")
    view = users.create_user(ctx, OPERATOR, None, "admin", "long-enough", admin=True)
    assert view.source == "local"
    listed = {(u.source, u.name) for u in users.list_users(ctx, OPERATOR)}
    assert listed == {("local", "admin"), ("hackershop", "admin")}
    assert users.get_user(ctx, OPERATOR, "admin").source == "local"
    assert users.get_user(ctx, OPERATOR, "hackershop\\admin").source == "hackershop"
    assert users.get_user(ctx, OPERATOR, "user:HACKERSHOP\\Admin").source == "hackershop"


def test_get_user_self_or_admin_without_an_existence_oracle(
    ctx: ManageContext, db: Database
) -> None:
    admin = add_user(db, "sarah", admin=True)
    jane = add_user(db, "jane")
    add_user(db, "josh")
    assert users.get_user(ctx, jane, "jane").name == "jane"
    assert users.get_user(ctx, admin, "josh").name == "josh"
    with pytest.raises(Forbidden):
        users.get_user(ctx, jane, "josh")
    with pytest.raises(Forbidden):  # the same answer as for someone who exists
        users.get_user(ctx, jane, "nobody")
    with pytest.raises(NotFound):
        users.get_user(ctx, admin, "nobody")


def test_me_names_user_robot_and_operator(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane", admin=True)
    assert users.me(ctx, jane) == Identity("jane", "user", True, "local")
    assert users.me(ctx, OPERATOR) == Identity("cli:tester", "operator", True, None)
    user_id = _directory_user(db, "josh")
    josh = Principal.user(user_id, "hackershop\\josh", False)
    assert users.me(ctx, josh) == Identity("hackershop\\josh", "user", False, "hackershop")


def test_update_user_makes_admin_and_disables(ctx: ManageContext, db: Database) -> None:
    add_user(db, "sarah", admin=True)
    jane = add_user(db, "jane")
    before = _generation(db)
    view = users.update_user(ctx, OPERATOR, None, "jane", admin=True)
    assert view.admin
    assert not view.disabled
    view = users.update_user(ctx, OPERATOR, None, "jane", disabled=True)
    assert view.disabled
    assert _generation(db) >= before + 2
    with pytest.raises(Forbidden):  # a disabled account may do nothing, even as admin
        users.list_users(ctx, jane)


def test_the_last_active_admin_stays(ctx: ManageContext, db: Database) -> None:
    sarah = add_user(db, "sarah", admin=True)
    with pytest.raises(Conflict):
        users.update_user(ctx, OPERATOR, None, "sarah", admin=False)
    with pytest.raises(Conflict):
        users.update_user(ctx, OPERATOR, None, "sarah", disabled=True)
    with pytest.raises(Conflict):
        users.delete_user(ctx, OPERATOR, None, "sarah")
    add_user(db, "eric", admin=True)
    with pytest.raises(Conflict):
        users.update_user(ctx, sarah, None, "sarah", disabled=True)  # not yourself
    with pytest.raises(Conflict):
        users.delete_user(ctx, sarah, None, "sarah")
    users.update_user(ctx, sarah, None, "sarah", admin=False)  # another admin remains
    assert not users.get_user(ctx, OPERATOR, "sarah").admin


def test_delete_user(ctx: ManageContext, db: Database) -> None:
    add_user(db, "jane")
    users.delete_user(ctx, OPERATOR, "::1", "jane")
    with pytest.raises(NotFound):
        users.get_user(ctx, OPERATOR, "jane")
    with pytest.raises(NotFound):
        users.delete_user(ctx, OPERATOR, None, "jane")
    with db.read() as conn:
        assert [e.target for e in audit.list_events(conn, action="user.delete")] == ["user:jane"]


def test_set_password(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    josh = add_user(db, "josh")
    users.set_password(ctx, jane, None, "jane", "new-password-1")
    users.set_password(ctx, OPERATOR, None, "josh", "new-password-2")
    with db.read() as conn:
        row = user_rows.user_by_name(conn, "jane")
        events = audit.list_events(conn, action="user.password")
    assert row is not None
    assert verify_password(row.password_hash, "new-password-1")
    assert [e.target for e in events] == ["user:josh", "user:jane"]
    assert all(e.detail is None for e in events)
    with pytest.raises(Forbidden):
        users.set_password(ctx, josh, None, "jane", "new-password-3")
    with pytest.raises(InvalidRequest):
        users.set_password(ctx, jane, None, "jane", "short")
    _directory_user(db, "eric")
    with pytest.raises(InvalidRequest):
        users.set_password(ctx, OPERATOR, None, "hackershop\\eric", "new-password-4")


def test_update_without_change_records_nothing(ctx: ManageContext, db: Database) -> None:
    add_user(db, "jane", admin=True)
    add_user(db, "josh")
    before = _generation(db)
    users.update_user(ctx, OPERATOR, None, "josh", admin=False, disabled=False)
    users.update_user(ctx, OPERATOR, None, "jane")
    assert _generation(db) == before
    with db.read() as conn:
        assert audit.list_events(conn, action="user.update") == []
