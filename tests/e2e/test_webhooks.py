"""Webhooks end to end: a real Dockyard sends to a real HTTP receiver on a loopback port
started here. The signature is checked as README documents it (independently of Dockyard's
code), a delivery answered 500 is retried, and nothing is lost while the receiver is down.
Backoff and polling are short through settings, so the module takes seconds."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fixtures.admin import AdminApi
from fixtures.deletes import Pusher
from fixtures.servers import DockyardServer
from fixtures.v2api import V2
from fixtures.webhook_receiver import Received, Receiver

_SECRET = "a-test-secret-of-enough-length"  # noqa: S105 - a test endpoint's key
_FAST = {
    "DOCKYARD_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',  # the receiver is on loopback
    "DOCKYARD_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "DOCKYARD_WEBHOOK_POLL_SECONDS": "0.2",
    "DOCKYARD_WEBHOOK_MAX_ATTEMPTS": "100",
    "DOCKYARD_GC_INTERVAL_MINUTES": "0",
    "DOCKYARD_RETENTION_INTERVAL_MINUTES": "0",
}


@dataclass
class World:
    server: DockyardServer
    api: AdminApi
    push: Pusher
    receiver: Receiver

    def add(self, name: str, **body: Any) -> dict[str, Any]:
        body = {"name": name, "url": f"{self.receiver.url}/{name}", "secret": _SECRET, **body}
        made: dict[str, Any] = self.api._call("POST", "/webhooks", 201, json=body)
        return made

    def remove(self, name: str) -> None:
        self.api._call("DELETE", f"/webhooks/{name}", 204)

    def deliveries(self, endpoint: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.api._call(
            "GET", "/webhooks/deliveries", 200, params={"endpoint": endpoint}
        )
        return rows

    def to(self, name: str) -> list[Received]:
        return [r for r in self.receiver.received if r.path == f"/hook/{name}"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    receiver = Receiver()
    receiver.start()
    server = DockyardServer.create(tmp_path_factory.mktemp("webhooks"), extra_env=_FAST)
    server.extra_env["DOCKYARD_PUBLIC_URL"] = server.url
    server.start()
    auth = (server.username, server.password)
    try:
        with (
            httpx.Client(base_url=server.url, auth=auth, timeout=60) as http,
            AdminApi(server.url, auth) as api,
        ):
            yield World(server, api, Pusher(V2(http)), receiver)
    finally:
        server.stop()
        receiver.stop()


def _signed(received: Received) -> bool:
    """The documented check: t=<unix>,v1=HMAC-SHA256(secret, "<t>." + body), t recent."""
    fields = dict(part.split("=", 1) for part in received.headers["dockyard-signature"].split(","))
    message = fields["t"].encode() + b"." + received.body
    expected = hmac.new(_SECRET.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 60


def _events(received: Received) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(received.body)["events"]
    return events


def test_a_push_arrives_signed_in_distributions_envelope(world: World) -> None:
    world.add("envelope", actions=["push"])
    try:
        pushed = world.push.image("team/app", [b"layer one"], tags=("1.0",))
        world.receiver.wait_for(lambda _: len(world.to("envelope")) >= 1)
        (got,) = world.to("envelope")
        assert got.headers["content-type"] == "application/vnd.docker.distribution.events.v1+json"
        assert _signed(got)
        forged = Received(got.path, got.headers, got.body.replace(b"1.0", b"6.6"), got.status)
        assert not _signed(forged)
        (event,) = _events(got)
        assert event["action"] == "push"
        assert event["target"] == {
            "mediaType": pushed.media_type, "size": pushed.size, "digest": pushed.digest,
            "length": pushed.size, "repository": "team/app", "tag": "1.0",
            "url": f"{world.server.url}/v2/team/app/manifests/{pushed.digest}",
        }  # fmt: skip
        assert event["actor"] == {"name": world.server.username}
        assert event["request"]["method"] == "PUT"
        assert event["request"]["addr"] == "127.0.0.1"
        assert event["source"]["instanceID"]
        assert event["source"]["addr"]
        assert event["id"] == got.headers["dockyard-event"]
        assert event["timestamp"].endswith("Z")
        (row,) = world.deliveries("envelope")
        assert row["status"] == "delivered"
        assert row["attempts"] == 1
        assert row["last_status"] == 200
        shown = world.api._call("GET", "/webhooks/envelope", 200)
        assert "secret" not in shown
        assert _SECRET not in json.dumps(shown)
    finally:
        world.remove("envelope")


def test_tag_move_and_delete_events(world: World) -> None:
    world.add("moves", actions=["push", "tag-move", "delete"])
    try:
        first = world.push.image("team/moves", [b"first"], tags=("latest",))
        second = world.push.image("team/moves", [b"second"], tags=("latest",))
        r = world.push.v2.http.delete("/v2/team/moves/manifests/latest")
        assert r.status_code == 202, r.text
        world.receiver.wait_for(lambda _: len(world.to("moves")) >= 3)
        envelopes = [[(e["action"], e["target"]) for e in _events(g)] for g in world.to("moves")]
        # Several workers deliver at once: envelopes may arrive in any order.
        assert sorted([a for a, _ in env] for env in envelopes) == [
            ["delete"], ["push"], ["push", "tag-move"],
        ]  # fmt: skip
        [moves] = [env for env in envelopes if len(env) == 2]
        moved = moves[1][1]
        assert moved["digest"] == second.digest
        assert moved["previousDigest"] == first.digest
        [deleted] = [env for env in envelopes if env[0][0] == "delete"]
        assert deleted[0][1] == {
            "digest": second.digest, "repository": "team/moves", "tag": "latest",
        }  # fmt: skip
    finally:
        world.remove("moves")


def test_repository_filter_and_actions(world: World) -> None:
    world.add("prod-deletes", actions=["delete"], repositories=["prod/*"])
    try:
        world.push.image("dev/app", [b"dev"], tags=("x",))
        prod = world.push.image("prod/app", [b"prod"], tags=("x",))
        assert world.push.v2.http.delete("/v2/dev/app/manifests/x").status_code == 202
        assert world.push.v2.http.delete(f"/v2/prod/app/manifests/{prod.digest}").status_code == 202
        world.receiver.wait_for(lambda _: len(world.to("prod-deletes")) >= 1)
        time.sleep(1)  # anything else would have come by now
        (got,) = world.to("prod-deletes")
        (event,) = _events(got)
        assert (event["action"], event["target"]["repository"]) == ("delete", "prod/app")
        assert event["target"]["digest"] == prod.digest
    finally:
        world.remove("prod-deletes")


def test_a_delivery_answered_500_is_retried(world: World) -> None:
    world.add("retry", actions=["push"])
    try:
        world.receiver.fail_next(1)
        world.push.image("team/retry", [b"retry"], tags=("1",))
        world.receiver.wait_for(lambda _: len(world.to("retry")) >= 2)
        first, second = world.to("retry")[:2]
        assert (first.status, second.status) == (500, 200)
        assert first.body == second.body  # the same bytes and event ids, signed again
        assert _signed(second)
        deadline = time.monotonic() + 10
        while (row := world.deliveries("retry")[0])["status"] != "delivered":
            assert time.monotonic() < deadline, row
            time.sleep(0.1)
        assert row["attempts"] == 2
        assert row["last_status"] == 200
        assert row["last_error"] is None
    finally:
        world.remove("retry")


def test_nothing_is_lost_while_the_receiver_is_down(world: World) -> None:
    world.add("downtime", actions=["push"])
    tags = [f"t{i}" for i in range(5)]
    try:
        world.receiver.stop()
        try:
            for tag in tags:
                world.push.image("team/down", [tag.encode()], tags=(tag,))
            deadline = time.monotonic() + 20
            while True:  # every delivery tried and failed at least once, none given up
                rows = world.deliveries("downtime")
                if len(rows) == 5 and all(r["attempts"] >= 1 for r in rows):
                    break
                assert time.monotonic() < deadline, rows
                time.sleep(0.2)
            assert {r["status"] for r in rows} == {"pending"}
            assert all(r["last_error"] and r["next_attempt_at"] for r in rows)
            time.sleep(1.5)  # down a while longer: retries keep failing
        finally:
            world.receiver.start()
        world.receiver.wait_for(
            lambda _: (
                {e["target"]["tag"] for g in world.to("downtime") for e in _events(g)} == set(tags)
            ),
            timeout=30,
        )
        assert all(_signed(g) for g in world.to("downtime"))
        deadline = time.monotonic() + 10
        while {r["status"] for r in world.deliveries("downtime")} != {"delivered"}:
            assert time.monotonic() < deadline, world.deliveries("downtime")
            time.sleep(0.1)
    finally:
        world.remove("downtime")


def test_a_failed_delivery_can_be_sent_again(world: World) -> None:
    world.add("again", actions=["push"])
    try:
        world.api._call("PATCH", "/webhooks/again", 200, json={"enabled": False})
        world.push.image("team/again", [b"not sent"], tags=("off",))  # disabled: no delivery
        world.api._call("PATCH", "/webhooks/again", 200, json={"enabled": True})
        world.push.image("team/again", [b"sent"], tags=("on",))
        world.receiver.wait_for(lambda _: len(world.to("again")) >= 1)
        (row,) = world.deliveries("again")
        world.api._call("POST", f"/webhooks/deliveries/{row['id']}/redeliver", 204)
        world.receiver.wait_for(lambda _: len(world.to("again")) >= 2)
        first, second = world.to("again")
        assert first.body == second.body
        assert [e["target"]["tag"] for e in _events(first)] == ["on"]
    finally:
        world.remove("again")


def test_only_registry_admins_manage_webhooks(world: World) -> None:
    world.api.add_user("hook-viewer", "viewer-password-1")
    with httpx.Client(base_url=world.server.url, auth=("hook-viewer", "viewer-password-1")) as h:
        assert h.get("/api/v1/webhooks").status_code == 403
        body = {"name": "sneaky", "url": "http://example.test/", "secret": _SECRET}
        assert h.post("/api/v1/webhooks", json=body).status_code == 403
