"""`dockyard webhooks` as an admin runs it: the real command, as a process, against a running
server with a token; the events reach a real receiver on a loopback port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from dockyard.registry.webhooks.signing import verify
from fixtures.admin import AdminApi
from fixtures.deletes import Pusher
from fixtures.servers import DockyardServer
from fixtures.v2api import V2
from fixtures.webhook_receiver import Receiver


@dataclass
class World:
    server: DockyardServer
    push: Pusher
    token: str
    receiver: Receiver

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD_", "COLUMNS"))}
        env |= {"COLUMNS": "250", "DOCKYARD_SERVER": self.server.url, "DOCKYARD_TOKEN": self.token}
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            capture_output=True, text=True, env=env, timeout=120, start_new_session=True,
        )  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == expect, f"{args}: {result.stdout}\n{result.stderr}"
        return result


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    receiver = Receiver()
    receiver.start()
    server = DockyardServer.create(
        tmp_path_factory.mktemp("webhooks-cli"),
        extra_env={"DOCKYARD_GC_INTERVAL_MINUTES": "0", "DOCKYARD_RETENTION_INTERVAL_MINUTES": "0",
                   "DOCKYARD_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
                   "DOCKYARD_WEBHOOK_POLL_SECONDS": "0.2"},
    )  # fmt: skip
    server.start()
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    try:
        with AdminApi(server.url, (server.username, server.password)) as api:
            token = api.add_token("cli")
        yield World(server, Pusher(V2(http)), token, receiver)
    finally:
        http.close()
        server.stop()
        receiver.stop()


def test_add_list_deliveries_disable_remove(world: World) -> None:
    added = world.run("webhooks", "add", "ci", world.receiver.url, "--action", "push",
                      "--repository", "apps/*")  # fmt: skip
    secret = added.stdout.strip()
    assert len(secret) >= 32
    assert "only this once" in added.stderr
    listed = world.run("webhooks", "list")
    assert "ci" in listed.stdout
    assert "apps/*" in listed.stdout
    assert secret not in listed.stdout + world.run("webhooks", "list", "--json").stdout

    world.push.image("apps/web", [b"web"], tags=("1",))
    (got,) = world.receiver.wait_for(lambda seen: len(seen) >= 1)
    assert verify(secret, got.headers["dockyard-signature"], got.body, int(time.time()))
    deadline = time.monotonic() + 10
    while (rows := json.loads(world.run("webhooks", "deliveries", "ci", "--json").stdout))[0][
        "status"
    ] != "delivered":
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)
    table = world.run("webhooks", "deliveries").stdout
    assert "apps/web:1" in table
    assert "delivered" in table

    world.run("webhooks", "disable", "ci")
    world.push.image("apps/web", [b"web 2"], tags=("2",))
    assert len(json.loads(world.run("webhooks", "deliveries", "--json").stdout)) == 1
    rotated = world.run("webhooks", "rotate-secret", "ci").stdout.strip()
    assert rotated
    assert rotated != secret
    world.run("webhooks", "remove", "ci")
    assert "No webhooks." in world.run("webhooks", "list").stderr
    refused = world.run("webhooks", "add", "bad", "ftp://example.test/", expect=1)
    assert "http:// or https://" in refused.stderr
