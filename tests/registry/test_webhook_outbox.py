"""The webhook outbox on the suite's back end: deliveries are written in the action's own
transaction (a rollback leaves none), claimed by one dispatcher at a time, found whatever
order transactions commit in (PostgreSQL: ids are not commit order), and given up after
the attempts or the age allowed; endpoint changes reach a worker's cached routes."""

from __future__ import annotations

import json
import threading

import pytest

from dockyard.auth.manage import ManageContext
from dockyard.auth.snapshot import AccessCache
from dockyard.config import WebhookSettings
from dockyard.metadata.db import Database
from dockyard.metadata.outbox import Origin, attach_routes
from dockyard.metadata.queries import audit
from dockyard.metadata.queries import webhooks as q
from dockyard.registry import webhooks
from dockyard.registry.webhooks import EndpointSpec
from dockyard.registry.webhooks.dispatch import next_delay
from fixtures import postgres
from fixtures.manage import OPERATOR


def _endpoint(ctx: ManageContext, name: str = "ci", **spec: object) -> None:
    fields = {"url": "https://ci.example.test/hook", **spec}
    webhooks.create_endpoint(ctx, OPERATOR, None, name, EndpointSpec(**fields))  # type: ignore[arg-type]


def _push(db: Database, target: str, at: int = 1_000) -> None:
    with db.write() as conn:
        audit.record(conn, at=at, actor="jane", action="manifest.push", target=target,
                     detail={"digest": "sha256:" + "a" * 64})  # fmt: skip


def _claim(db: Database, now: int = 2_000, claim: str = "c1") -> list[q.Claimed]:
    with db.write() as conn:
        return q.claim_due(conn, now, 100, claim, 60)


def test_a_delivery_exists_exactly_when_its_action_commits(
    db: Database, ctx: ManageContext
) -> None:
    _endpoint(ctx)

    def failing_push() -> None:
        with db.write() as conn:
            audit.record(conn, at=1, actor="jane", action="manifest.push", target="dev/a:1",
                         detail={"digest": "sha256:" + "b" * 64})  # fmt: skip
            raise RuntimeError("the push fails after recording")

    with pytest.raises(RuntimeError):
        failing_push()
    assert _claim(db) == []
    _push(db, "dev/a:1")
    (claimed,) = _claim(db)
    (event,) = json.loads(claimed.body)["events"]
    assert (event["action"], event["target"]["repository"], event["target"]["tag"]) == (
        "push", "dev/a", "1",
    )  # fmt: skip


def test_actions_no_endpoint_wants_write_nothing(db: Database, ctx: ManageContext) -> None:
    _endpoint(ctx, actions=["delete"], repositories=["prod/*"])
    _push(db, "prod/a:1")  # not an action it wants
    with db.write() as conn:
        audit.record(
            conn,
            at=1,
            actor="jane",
            action="tag.delete",
            target="dev/a:1",
            detail={"digest": "sha256:" + "c" * 64},
        )  # not a repository it wants
        audit.record(conn, at=1, actor="jane", action="user.create", target="user:bob")
    assert _claim(db) == []


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_ends(
    db: Database, ctx: ManageContext
) -> None:
    _endpoint(ctx)
    _push(db, "dev/a:1")
    (first,) = _claim(db, now=2_000, claim="one")
    assert _claim(db, now=2_000, claim="two") == []
    (again,) = _claim(db, now=2_060, claim="two")  # the first dispatcher died: lease over
    assert again.id == first.id
    with db.write() as conn:  # the late first dispatcher cannot record over the second
        assert not q.record_outcome(conn, first.id, "one", now=2_061, http_status=200,
                                    error=None, next_attempt_at=None)  # fmt: skip
        assert q.record_outcome(conn, again.id, "two", now=2_061, http_status=200,
                                error=None, next_attempt_at=None)  # fmt: skip
    (row,) = webhooks.deliveries(ctx, OPERATOR)
    assert (row.status, row.attempts, row.next_attempt_at) == ("delivered", 1, None)


@pytest.mark.skipif(postgres.BACKEND != "postgresql", reason="two writers at once: PostgreSQL")
def test_a_delivery_committed_late_is_still_found(db: Database, ctx: ManageContext) -> None:
    """Transaction A inserts first (the lower id) but commits after B; a dispatcher that
    claimed B's meanwhile still finds A's: claims go by status and due time, not by id."""
    _endpoint(ctx)
    a_inserted, b_claimed = threading.Event(), threading.Event()

    def slow_push() -> None:
        with db.write() as conn:
            audit.record(conn, at=1_000, actor="a", action="manifest.push", target="dev/a:1",
                         detail={"digest": "sha256:" + "a" * 64})  # fmt: skip
            a_inserted.set()
            b_claimed.wait(10)

    slow = threading.Thread(target=slow_push)
    slow.start()
    assert a_inserted.wait(10)
    _push(db, "dev/b:1")
    (b,) = _claim(db, claim="first")
    b_claimed.set()
    slow.join(10)
    (a,) = _claim(db, claim="second")
    assert a.id < b.id
    assert json.loads(a.body)["events"][0]["target"]["repository"] == "dev/a"


@pytest.mark.skipif(postgres.BACKEND != "postgresql", reason="two claimers at once: PostgreSQL")
def test_claims_in_flight_skip_each_others_rows(db: Database, ctx: ManageContext) -> None:
    _endpoint(ctx)
    for i in range(4):
        _push(db, f"dev/a:{i}")
    with db.write() as first:
        mine = q.claim_due(first, 2_000, 2, "first", 60)
        with db.write() as second:  # does not wait for the first: SKIP LOCKED
            theirs = q.claim_due(second, 2_000, 10, "second", 60)
    assert len(mine) == 2
    assert len(theirs) == 2
    assert not {c.id for c in mine} & {c.id for c in theirs}


def test_backoff_doubles_up_to_its_cap() -> None:
    settings = WebhookSettings(retry_base_seconds=5, retry_max_seconds=60)
    assert [next_delay(settings, n, 0) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert next_delay(settings, 1, 1) == pytest.approx(6)
    assert next_delay(settings, 200, -1) == pytest.approx(48)


def test_endpoint_changes_reach_a_workers_cached_routes(db: Database, ctx: ManageContext) -> None:
    access = AccessCache(db)
    routes = webhooks.EndpointRoutes(access, Origin("here:5000", "id-1"), 3600)
    attach_routes(db.writer, routes)
    access.fresh()  # as a request's permission check does
    _push(db, "dev/a:1")  # no endpoint yet: cached as none
    _endpoint(ctx)
    access.fresh()
    _push(db, "dev/a:2")
    (claimed,) = _claim(db)
    (event,) = json.loads(claimed.body)["events"]
    assert event["target"]["tag"] == "2"
    assert event["source"] == {"addr": "here:5000", "instanceID": "id-1"}
    assert claimed.retry_until == 1_000 + 3600


def test_secrets_are_generated_returned_once_and_validated(ctx: ManageContext) -> None:
    made = webhooks.create_endpoint(
        ctx, OPERATOR, None, "gen", EndpointSpec(url="https://x.example.test/")
    )
    assert len(made.secret) >= 32
    assert made.endpoint.row.actions == ("push", "delete", "promote", "tag-move")
    rotated = webhooks.update_endpoint(ctx, OPERATOR, None, "gen", EndpointSpec(),
                                       rotate_secret=True)  # fmt: skip
    assert rotated.secret
    assert rotated.secret != made.secret
    from dockyard.auth.errors import AlreadyExists, InvalidRequest

    with pytest.raises(AlreadyExists):
        webhooks.create_endpoint(ctx, OPERATOR, None, "gen", EndpointSpec(url="https://y.test/"))
    for bad in ("ftp://x.test/", "https://user:pw@x.test/", "no url"):
        with pytest.raises(InvalidRequest):
            webhooks.create_endpoint(ctx, OPERATOR, None, "bad", EndpointSpec(url=bad))
    with pytest.raises(InvalidRequest):
        webhooks.create_endpoint(ctx, OPERATOR, None, "bad",
                                 EndpointSpec(url="https://x.test/", actions=["pull"]))  # fmt: skip


@pytest.mark.parametrize(
    ("action", "target", "detail", "expected"),
    [
        ("image.promote", "prod/api:1.4",
         {"digest": "sha256:" + "d" * 64, "source": "test/api", "target": "prod/api",
          "tag": "1.4"},
         [("promote", "prod/api", {"tag": "1.4", "fromRepository": "test/api"})]),
        ("repository.delete", "repository:dev/old", {}, [("delete", "dev/old", {})]),
        ("retention.remove", "dev/api:build-1", {"digest": "sha256:" + "e" * 64},
         [("delete", "dev/api", {"tag": "build-1", "digest": "sha256:" + "e" * 64})]),
        ("layer.purge", "layer:sha256:" + "f" * 64,
         {"manifests": ["dev/a@sha256:" + "1" * 64, "prod/b@sha256:" + "2" * 64]},
         [("delete", "dev/a", {"digest": "sha256:" + "1" * 64}),
          ("delete", "prod/b", {"digest": "sha256:" + "2" * 64})]),
    ],
)  # fmt: skip
def test_each_action_becomes_its_events(
    db: Database,
    ctx: ManageContext,
    action: str,
    target: str,
    detail: dict[str, object],
    expected: list[tuple[str, str, dict[str, str]]],
) -> None:
    _endpoint(ctx)
    with db.write() as conn:
        audit.record(conn, at=1_000, actor="jane", action=action, target=target, detail=detail)
    (claimed,) = _claim(db)
    events = json.loads(claimed.body)["events"]
    assert [(e["action"], e["target"]["repository"]) for e in events] == [
        (a, r) for a, r, _ in expected
    ]
    for event, (_, _, fields) in zip(events, expected, strict=True):
        assert fields.items() <= event["target"].items()
    assert len({e["id"] for e in events}) == len(events)
    assert {e["request"]["id"] for e in events} == {events[0]["request"]["id"]}  # one request
