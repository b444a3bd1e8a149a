"""The audit query: newest first, filters, pages; registry admins only."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.auth.errors import Forbidden
from dockyard.auth.manage import ManageContext, audit
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit as audit_rows
from fixtures.manage import OPERATOR, add_user


@pytest.fixture
def events(db: Database) -> None:
    with db.write() as conn:
        for at, actor, action, target in [
            (100, "sarah", "login.success", None),
            (200, "sarah", "grant.set", "namespace:dev"),
            (300, "jane", "grant.revoke", "namespace:dev"),
            (400, "jane", "grant_like.x", "namespace:dev"),  # `_` is no LIKE wildcard here
            (500, "sarah", "user.create", "user:jane"),
        ]:
            audit_rows.record(
                conn,
                at=at,
                actor=actor,
                action=action,
                target=target,
                address="10.0.0.1",
                detail={"n": at},
            )


@pytest.mark.usefixtures("events")
def test_filters(ctx: ManageContext) -> None:
    def ats(**filters: Any) -> list[int]:
        return [e.at for e in audit.list_events(ctx, OPERATOR, **filters).events]

    assert ats() == [500, 400, 300, 200, 100]
    assert ats(by="jane") == [400, 300]
    assert ats(action="grant") == [300, 200]  # a dotted prefix
    assert ats(action="grant.set") == [200]
    assert ats(action="grant.") == [300, 200]
    assert ats(target="namespace:dev", by="sarah") == [200]
    assert ats(since=200, until=400) == [300, 200]


@pytest.mark.usefixtures("events")
def test_pages(ctx: ManageContext) -> None:
    first = audit.list_events(ctx, OPERATOR, limit=2)
    assert [e.at for e in first.events] == [500, 400]
    assert first.next is not None
    second = audit.list_events(ctx, OPERATOR, limit=2, before=first.next)
    assert [e.at for e in second.events] == [300, 200]
    third = audit.list_events(ctx, OPERATOR, limit=2, before=second.next)
    assert [e.at for e in third.events] == [100]
    assert third.next is None
    assert third.events[0].detail == {"n": 100}
    assert third.events[0].address == "10.0.0.1"


def test_registry_admins_only(ctx: ManageContext, db: Database) -> None:
    jane = add_user(db, "jane")
    with pytest.raises(Forbidden):
        audit.list_events(ctx, jane)
