"""`dockyard immutable`, `dockyard tag` and `dockyard promote` as a person runs them: the
real command, as a process, against a running server with a token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from fixtures.admin import AdminApi
from fixtures.deletes import Pusher
from fixtures.servers import DockyardServer
from fixtures.v2api import V2


@dataclass
class World:
    server: DockyardServer
    push: Pusher
    token: str

    def run(self, *args: str, expect: int = 0) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD_", "COLUMNS"))}
        env |= {"COLUMNS": "250", "DOCKYARD_SERVER": self.server.url, "DOCKYARD_TOKEN": self.token}
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            capture_output=True, text=True, env=env, timeout=120, start_new_session=True,
        )  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == expect, f"{args}: {result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("lifecycle-cli"))
    server.start()
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    try:
        with AdminApi(server.url, (server.username, server.password)) as api:
            token = api.add_token("cli")
        yield World(server, Pusher(V2(http)), token)
    finally:
        http.close()
        server.stop()


def test_immutable_rules_revert_and_promote(world: World) -> None:
    first = world.push.image("dev/cli/app", [os.urandom(32)], tags=("1.0",))
    second = world.push.image("dev/cli/app", [os.urandom(32)], tags=("1.0",))

    history = world.run("tag", "history", "dev/cli/app:1.0")
    assert first.digest in history
    assert second.digest in history
    out = world.run("tag", "revert", "dev/cli/app:1.0", first.digest)
    assert f"dev/cli/app:1.0 now points to {first.digest} (was {second.digest})." in out

    out = world.run("immutable", "add", "prod")
    assert "Rule #1: tags * in namespace prod are immutable." in out
    assert "prod" in world.run("immutable", "list")

    out = world.run("promote", "dev/cli/app:1.0", "--to", "test")
    assert f"Promoted dev/cli/app@{first.digest} to test/cli/app:1.0" in out
    world.run("promote", "test/cli/app:1.0", "--to", "prod")
    refused = world.run("delete", "prod/cli/app:1.0", "--yes", expect=1)
    assert "tag prod/cli/app:1.0 is immutable" in refused
    record = json.loads(world.run("promotions", "--application", "cli/app", "--json"))
    assert [p["target_repository"] for p in record] == ["prod/cli/app", "test/cli/app"]
    world.run("delete", "prod/cli/app:1.0", "--yes", "--override-immutable")
    out = world.run("immutable", "remove", "1")
    assert "Rule #1 lifted" in out
    assert "No immutable tag rules." in world.run("immutable", "list")
