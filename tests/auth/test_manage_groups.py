"""Group services: local groups and their members, directory groups left to the directory."""

from __future__ import annotations

import dataclasses
import time

import pytest

from dockyard.auth.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage import ManageContext, groups
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit, identities
from fixtures.manage import OPERATOR, add_user, unreachable_directory


def test_local_group_lifecycle(ctx: ManageContext, db: Database) -> None:
    add_user(db, "greg")
    add_user(db, "frank")
    created = groups.create_group(ctx, OPERATOR, None, "qa")
    assert (created.name, created.source, created.member_count) == ("qa", "local", 0)
    with pytest.raises(AlreadyExists):
        groups.create_group(ctx, OPERATOR, None, "qa")
    groups.add_member(ctx, OPERATOR, None, "qa", "greg")
    groups.add_member(ctx, OPERATOR, None, "group:qa", "user:frank")
    groups.add_member(ctx, OPERATOR, None, "qa", "greg")  # twice is no change
    detail = groups.get_group(ctx, OPERATOR, "qa")
    assert (detail.member_count, detail.members) == (2, ("frank", "greg"))
    groups.remove_member(ctx, OPERATOR, None, "qa", "greg")
    with pytest.raises(NotFound):
        groups.remove_member(ctx, OPERATOR, None, "qa", "greg")
    assert groups.get_group(ctx, OPERATOR, "qa").members == ("frank",)
    groups.delete_group(ctx, OPERATOR, None, "qa")
    with pytest.raises(NotFound):
        groups.get_group(ctx, OPERATOR, "qa")
    with db.read() as conn:
        actions = [e.action for e in audit.list_events(conn, action="group")]
    assert actions == [
        "group.delete",
        "group.member.remove",
        "group.member.add",
        "group.member.add",
        "group.create",
    ]


def test_members_of_any_source(ctx: ManageContext, db: Database) -> None:
    with db.write() as conn:
        identities.link_directory_user(
            conn, "hackershop", "uuid-josh", "josh", "uid=josh", None, int(time.time())
        )
    groups.create_group(ctx, OPERATOR, None, "mixed")
    groups.add_member(ctx, OPERATOR, None, "mixed", "hackershop\\josh")
    assert groups.get_group(ctx, OPERATOR, "mixed").members == ("hackershop\\josh",)


def test_unknown_member_and_bad_names(ctx: ManageContext) -> None:
    groups.create_group(ctx, OPERATOR, None, "qa")
    with pytest.raises(NotFound):
        groups.add_member(ctx, OPERATOR, None, "qa", "nobody")  # no directory to ask
    with pytest.raises(NotFound):
        groups.add_member(ctx, OPERATOR, None, "nogroup", "nobody")
    with pytest.raises(InvalidRequest):
        groups.create_group(ctx, OPERATOR, None, "Q A")
    with pytest.raises(InvalidRequest):
        groups.add_member(ctx, OPERATOR, None, "qa", "robot:ci")


def test_directory_group_members_are_not_edited_here(ctx: ManageContext, db: Database) -> None:
    add_user(db, "greg")
    with db.write() as conn:
        identities.ensure_directory_group(conn, "hackershop", "qa", "cn=qa,dc=x", int(time.time()))
    listed = groups.list_groups(ctx, OPERATOR)
    assert [(g.source, g.name, g.dn) for g in listed] == [("hackershop", "qa", "cn=qa,dc=x")]
    with pytest.raises(NotFound):  # unqualified names reach configured directories only
        groups.get_group(ctx, OPERATOR, "qa")
    assert groups.get_group(ctx, OPERATOR, "hackershop\\qa").source == "hackershop"
    # With the directory configured, "qa" falls through to its row (by DN too), without
    # asking the directory (this one is unreachable).
    ctx = dataclasses.replace(ctx, directories=[unreachable_directory()])
    assert groups.get_group(ctx, OPERATOR, "qa").source == "hackershop"
    assert groups.get_group(ctx, OPERATOR, "cn=qa,dc=x").source == "hackershop"
    with pytest.raises(InvalidRequest):
        groups.add_member(ctx, OPERATOR, None, "hackershop\\qa", "greg")
    with pytest.raises(InvalidRequest):
        groups.remove_member(ctx, OPERATOR, None, "qa", "greg")
    groups.delete_group(ctx, OPERATOR, None, "hackershop\\qa")
    assert groups.list_groups(ctx, OPERATOR) == []


def test_registry_admins_only(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    groups.create_group(ctx, OPERATOR, None, "qa")
    for call in (
        lambda: groups.list_groups(ctx, jane),
        lambda: groups.get_group(ctx, jane, "qa"),
        lambda: groups.create_group(ctx, jane, None, "mine"),
        lambda: groups.delete_group(ctx, jane, None, "qa"),
        lambda: groups.add_member(ctx, jane, None, "qa", "jane"),
        lambda: groups.remove_member(ctx, jane, None, "qa", "jane"),
    ):
        with pytest.raises(Forbidden):
            call()
