"""Retention against a real server: content pushed through /v2, tag ages and pulls set in
the database (time cannot be waited for), policies simulated and applied in this process on
the same data directory, the result checked through /v2, the audit log and a GC run."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import update

from dockyard.auth.errors import Conflict, Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage import ManageContext
from dockyard.auth.manage.namespaces import create_namespace
from dockyard.config import GcSettings, Settings
from dockyard.metadata.db import Database
from dockyard.metadata.models import Tag, table_of
from dockyard.metadata.queries import audit
from dockyard.metadata.queries import repositories as repository_queries
from dockyard.registry import gc, retention
from dockyard.registry.gc import GcMode
from dockyard.registry.retention import Rules, Scope
from fixtures.deletes import Pushed, Pusher
from fixtures.manage import OPERATOR, add_user
from fixtures.servers import DockyardServer, StartServer
from fixtures.sql import run_sql
from fixtures.v2api import V2

DAY = 86_400
_tag = table_of(Tag)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Registry:
    server: DockyardServer
    db: Database
    ctx: ManageContext
    clock: Clock
    v2: V2
    push: Pusher

    def age(self, repository: str, tags: dict[str, float], pulled: dict[str, float]) -> None:
        """Make each tag pushed (and pulled) that many days before the clock."""
        with self.db.write() as conn:
            repo_id = repository_queries.repository_id(conn, repository)
            for name, days in tags.items():
                values: dict[str, int | None] = {"updated_at": int(self.clock.now - days * DAY)}
                if name in pulled:
                    values["last_pulled_at"] = int(self.clock.now - pulled[name] * DAY)
                conn.execute(
                    update(_tag)
                    .where(_tag.c.repository_id == repo_id, _tag.c.name == name)
                    .values(**values)
                )

    def tags(self, repository: str) -> set[str]:
        r = self.v2.http.get(f"/v2/{repository}/tags/list", params={"n": 10_000})
        if r.status_code == 404:
            return set()
        assert r.status_code == 200, r.text
        return set(r.json()["tags"] or [])


@pytest.fixture
def reg(dockyard_factory: StartServer) -> Iterator[Registry]:
    server = dockyard_factory(
        extra_env={"DOCKYARD_GC_INTERVAL_MINUTES": "0", "DOCKYARD_RETENTION_INTERVAL_MINUTES": "0"}
    )
    settings = Settings(data_dir=server.data_dir, database_url=server.database_url, direct_io=False)
    db = Database(settings.sqlalchemy_url)
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    clock = Clock()
    try:
        ctx = dataclasses.replace(
            ManageContext.from_settings(db, settings),
            clock=clock,
            gc=GcSettings(grace_seconds=0, in_flight_seconds=0, untagged=True, interval_seconds=0),
        )
        v2 = V2(http)
        yield Registry(server, db, ctx, clock, v2, Pusher(v2))
    finally:
        http.close()
        db.close()


def _layer(label: str) -> bytes:
    return f"{label}:{os.urandom(16).hex()}".encode() * 64


def test_simulation_equals_application_on_hundreds_of_tags(reg: Registry) -> None:
    name = "team/app"
    shared = _layer("base")
    images = [reg.push.image(name, [shared, _layer(f"own{i}")]) for i in range(40)]
    ages: dict[str, float] = {}
    pulled: dict[str, float] = {}
    for i in range(320):
        image = images[i % len(images)]
        tag = f"release-{i}" if i % 37 == 0 else (f"v{i}.0" if i % 23 == 0 else f"build-{i}")
        r = reg.v2.put_manifest(name, tag, *_payload(reg, name, image))
        assert r.status_code == 201, r.text
        ages[tag] = (i * 7919) % 90  # spread over 90 days
        if i % 11 == 0:
            pulled[tag] = (i % 13) + 0.5
    signed = images[0]
    reg.push.cosign_signature(name, signed)
    signature_tag = "sha256-" + signed.digest.split(":")[1] + ".sig"
    ages[signature_tag] = 80
    ages["build-0"] = 0.1  # keeps images[0] tagged, hence its signature
    index = reg.push.index(name, [images[1], images[2]], tags=("multi",))
    ages["multi"] = 85
    untagged_old = reg.push.image(name, [_layer("untagged-old")])
    fresh_layer = _layer("untagged-new")
    untagged_new = reg.push.image(name, [fresh_layer])
    reg.age(name, ages, pulled)
    with reg.db.write() as conn:  # the untagged images' own times
        run_sql(
            conn,
            "UPDATE manifest SET created_at = ? WHERE digest = ?",
            (int(reg.clock.now - 20 * DAY), untagged_old.digest),
        )
    rules = Rules(
        keep_last=25,
        keep_patterns=("release-*", r"re:v\d+\.0"),
        keep_pulled_days=7,
        remove_older_than_days=30,
        remove_untagged_after_days=10,
    )
    retention.set_policy(reg.ctx, OPERATOR, None, Scope.REPOSITORY, name, rules, enabled=False)
    before = reg.tags(name)

    simulation = retention.simulate(reg.ctx, OPERATOR, Scope.REPOSITORY, name)
    assert simulation.tags_examined == len(before) >= 320
    gone_tags = {r.tag for r in simulation.removals if r.tag is not None}
    assert 100 < len(gone_tags) < 300
    assert not any(t.startswith("release-") for t in gone_tags)
    assert not any(t.endswith(".0") and t.startswith("v") for t in gone_tags)
    assert signature_tag not in gone_tags
    assert all(ages[t] >= 30 for t in gone_tags)
    assert all(pulled.get(t, 99) > 7 for t in gone_tags)
    newest = sorted(before, key=lambda t: (ages.get(t, 0), t))[:25]
    assert not gone_tags & set(newest)
    untagged = {r.digest for r in simulation.removals if r.tag is None}
    assert untagged == {untagged_old.digest}
    assert "multi" in gone_tags  # an old index goes like any image

    result = retention.apply(
        reg.ctx, OPERATOR, None, Scope.REPOSITORY, name, expect=simulation.fingerprint
    )
    assert result.removed == simulation.removals
    assert result.skipped == ()
    assert reg.tags(name) == before - gone_tags
    r = reg.v2.http.head(f"/v2/{name}/manifests/{untagged_new.digest}")
    assert r.status_code == 200
    r = reg.v2.http.head(f"/v2/{name}/manifests/{untagged_old.digest}")
    assert r.status_code == 404

    with reg.db.read() as conn:
        events = audit.list_events(conn, action="retention.remove", limit=2000)
    by_target = {e.target: e.detail or {} for e in events}
    assert len(by_target) == len(simulation.removals)
    for removal in simulation.removals:
        where = f"{name}:{removal.tag}" if removal.tag else f"{name}@{removal.digest}"
        assert by_target[where]["rule"] == removal.rule
        assert by_target[where]["policy"] == f"repository:{name}"

    # Within the restore window GC keeps the images whose tags went; after it, GC has freed
    # exactly the bytes the simulation announced, and those of the untagged image pushed a
    # moment ago (GC collects untagged images itself, at grace 0 here; retention left it).
    reg.clock.now += DAY
    within = gc.run(reg.ctx, GcMode.COLLECT, grace=0, actor="tester")
    assert within.status == "done", within.error
    reg.clock.now += reg.ctx.retention_restore_seconds
    after = gc.run(reg.ctx, GcMode.COLLECT, grace=0, actor="tester")
    assert after.status == "done", after.error
    freed = within.figures["bytes_freed"] + after.figures["bytes_freed"]
    assert simulation.bytes_freed > 0
    assert freed == simulation.bytes_freed + untagged_new.config_size + len(fresh_layer)
    r = reg.v2.http.head(f"/v2/{name}/manifests/{index.digest}")
    assert r.status_code == 404  # the old index went with its tag


def _payload(reg: Registry, name: str, image: Pushed) -> tuple[bytes, str]:
    r = reg.v2.http.get(
        f"/v2/{name}/manifests/{image.digest}", headers={"Accept": image.media_type}
    )
    assert r.status_code == 200, r.text
    return r.content, image.media_type


def test_a_protected_namespace_is_never_touched(reg: Registry) -> None:
    reg.push.image("prod/api", [_layer("p1")], tags=("old", "older"))
    reg.push.image("dev/api", [_layer("d1")], tags=("old", "older"))
    for repository in ("prod/api", "dev/api"):
        reg.age(repository, {"old": 60, "older": 90}, {})
    everything = Rules(keep_last=0, remove_untagged_after_days=0)
    retention.set_policy(
        reg.ctx, OPERATOR, None, Scope.NAMESPACE, "prod", Rules(), enabled=False, protected=True
    )
    retention.set_policy(
        reg.ctx, OPERATOR, None, Scope.REPOSITORY, "prod/api", everything, enabled=True
    )
    retention.set_policy(reg.ctx, OPERATOR, None, Scope.NAMESPACE, "dev", everything, enabled=True)
    simulation = retention.simulate(reg.ctx, OPERATOR, Scope.REPOSITORY, "prod/api")
    assert simulation.protected
    assert simulation.removals == ()
    assert retention.apply(reg.ctx, OPERATOR, None, Scope.REPOSITORY, "prod/api").removed == ()
    results = retention.run_scheduled(reg.ctx, threading.Event())
    assert {r.simulation.target for r in results} == {"dev"}  # prod/api ran just now
    reg.clock.now += reg.ctx.retention_interval_seconds
    results = retention.run_scheduled(reg.ctx, threading.Event())
    assert {r.simulation.target: len(r.removed) for r in results} == {"dev": 0, "prod/api": 0}
    assert reg.tags("prod/api") == {"old", "older"}
    assert reg.tags("dev/api") == set()


def test_restore_puts_a_tag_back_and_gc_keeps_its_image_meanwhile(reg: Registry) -> None:
    name = "team/web"
    image = reg.push.image(name, [_layer("w")], tags=("1.0", "2.0"))
    other = reg.push.image(name, [_layer("x")], tags=("3.0",))
    reg.age(name, {"1.0": 50, "2.0": 50, "3.0": 1}, {})
    rules = Rules(remove_older_than_days=30)
    retention.set_policy(reg.ctx, OPERATOR, None, Scope.REPOSITORY, name, rules, enabled=True)
    retention.apply(reg.ctx, OPERATOR, None, Scope.REPOSITORY, name)
    assert reg.tags(name) == {"3.0"}
    gc.run(reg.ctx, GcMode.COLLECT, grace=0, actor="tester")
    r = reg.v2.http.head(f"/v2/{name}/manifests/{image.digest}")
    assert r.status_code == 200  # kept for the restore window

    removed = {r.tag: r for r in retention.removals(reg.ctx, OPERATOR, name)}
    assert set(removed) == {"1.0", "2.0"}
    assert removed["1.0"].reason == f"repository:{name}: older than 30 days"
    retention.restore(reg.ctx, OPERATOR, None, removed["1.0"].id)
    assert reg.tags(name) == {"1.0", "3.0"}
    with pytest.raises(NotFound):
        retention.restore(reg.ctx, OPERATOR, None, removed["1.0"].id)
    body, media_type = _payload(reg, name, other)
    assert reg.v2.put_manifest(name, "2.0", body, media_type).status_code == 201
    with pytest.raises(Conflict, match="pushed again since"):
        retention.restore(reg.ctx, OPERATOR, None, removed["2.0"].id)
    reg.clock.now += reg.ctx.retention_restore_seconds + 1
    assert retention.removals(reg.ctx, OPERATOR, name) == []


def test_a_run_refuses_a_plan_that_changed_since_the_simulation(reg: Registry) -> None:
    name = "team/cli"
    reg.push.image(name, [_layer("c")], tags=("a", "b"))
    reg.age(name, {"a": 40, "b": 40}, {})
    rules = Rules(remove_older_than_days=30)
    retention.set_policy(reg.ctx, OPERATOR, None, Scope.REPOSITORY, name, rules, enabled=False)
    simulation = retention.simulate(reg.ctx, OPERATOR, Scope.REPOSITORY, name)
    reg.age(name, {"b": 1}, {})  # pushed again meanwhile
    with pytest.raises(Conflict, match="simulate again"):
        retention.apply(
            reg.ctx, OPERATOR, None, Scope.REPOSITORY, name, expect=simulation.fingerprint
        )
    assert reg.tags(name) == {"a", "b"}


def test_only_admins_set_policies_and_only_registry_admins_protect(reg: Registry) -> None:
    jane = add_user(reg.db, "jane")
    with pytest.raises(NotFound):
        retention.set_policy(
            reg.ctx, jane, None, Scope.NAMESPACE, "team", Rules(keep_last=3), enabled=True
        )
    create_namespace(reg.ctx, jane, None, "jane-team")  # she administers it
    retention.set_policy(
        reg.ctx, jane, None, Scope.NAMESPACE, "jane-team", Rules(keep_last=3), enabled=True
    )
    with pytest.raises(Forbidden, match="registry admins"):
        retention.set_policy(
            reg.ctx, jane, None, Scope.NAMESPACE, "jane-team", Rules(), enabled=False,
            protected=True,
        )  # fmt: skip
    with pytest.raises(InvalidRequest):
        retention.set_policy(
            reg.ctx, OPERATOR, None, Scope.REPOSITORY, "team/app", Rules(), enabled=True,
            protected=True,
        )  # fmt: skip
    assert [p.target for p in retention.list_policies(reg.ctx, jane)] == ["jane-team"]
