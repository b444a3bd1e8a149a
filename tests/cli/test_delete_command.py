"""`dockyard delete` and `dockyard undo-delete` as run by a person or a script: the real
command, as a process, against a running server with a token (remote) and on its data
directory (local, as the operator)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from dockyard.cli.deletes import size_text
from fixtures.admin import AdminApi
from fixtures.deletes import Pusher
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, sha256


@dataclass
class World:
    server: DockyardServer
    push: Pusher
    v2: V2
    token: str

    def run(
        self, *args: str, stdin: str = "", expect: int = 0, local: bool = False
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD_", "COLUMNS"))}
        env["COLUMNS"] = "250"
        if local:
            env["DOCKYARD_DATA_DIR"] = str(self.server.data_dir)
            env["DOCKYARD_DATABASE_URL"] = self.server.database_url
        else:
            env |= {"DOCKYARD_SERVER": self.server.url, "DOCKYARD_TOKEN": self.token}
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            input=stdin, capture_output=True, text=True, env=env, timeout=120,
            start_new_session=True,
        )  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == expect, f"{args}: {result.stdout}\n{result.stderr}"
        return result

    def status(self, path: str) -> int:
        return self.v2.http.get(path).status_code


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("delete-cli"))
    server.start()
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    try:
        with AdminApi(server.url, (server.username, server.password)) as api:
            token = api.add_token("cli")
        v2 = V2(http)
        yield World(server, Pusher(v2), v2, token)
    finally:
        http.close()
        server.stop()


def _name() -> str:
    return f"dc/cli-{secrets.token_hex(3)}"


def test_size_text() -> None:
    assert [size_text(n) for n in (0, 1023, 1536, 5 << 20)] == [
        "0 B", "1023 B", "1.5 KiB", "5.0 MiB",
    ]  # fmt: skip


def test_dry_run_then_confirm(world: World) -> None:
    name = _name()
    layer = os.urandom(2048)
    image = world.push.image(name, [layer], tags=("v1", "v2"))
    shown = world.run("delete", f"{name}@{image.digest}", "--dry-run")
    assert image.digest in shown.stdout
    assert "v1, v2" in shown.stdout
    assert "reclaimable" in shown.stderr
    declined = world.run("delete", f"{name}:v1", stdin="n\n", expect=1)
    assert "Nothing deleted" in declined.stderr
    assert world.status(f"/v2/{name}/manifests/v1") == 200
    world.run("delete", f"{name}:v1", stdin="y\n")
    assert world.status(f"/v2/{name}/manifests/v1") == 404
    assert world.status(f"/v2/{name}/manifests/v2") == 200


def test_json_undoable_and_undo(world: World) -> None:
    name = _name()
    image = world.push.image(name, [os.urandom(64)], tags=("v1",))
    out = world.run("delete", f"{name}@{image.digest}", "--yes", "--json", "--undoable")
    result = json.loads(out.stdout)
    assert [m["digest"] for m in result["deleted"]["manifests"]] == [image.digest]
    assert world.status(f"/v2/{name}/manifests/v1") == 404
    undone = json.loads(world.run("undo-delete", result["undo"], "--json").stdout)
    assert undone["manifests"] == [image.digest]
    assert world.status(f"/v2/{name}/manifests/v1") == 200


def test_layer_and_repository_locally(world: World) -> None:
    first, second = _name(), _name()
    secret = os.urandom(4096)
    world.push.image(first, [secret], tags=("v1",))
    world.push.image(second, [secret], tags=("v1",))
    digest = sha256(secret)
    plan = json.loads(world.run("delete", "--layer", digest, "--dry-run", "--json").stdout)
    assert {m["repository"] for m in plan["manifests"]} == {first, second}
    world.run("delete", "--layer", digest, "--yes", local=True)
    assert world.status(f"/v2/{first}/blobs/{digest}") == 404
    world.run("delete", "--repository", second, "--yes")
    assert world.status(f"/v2/{second}/tags/list") == 404


def test_usage_errors(world: World) -> None:
    world.run("delete", expect=2)
    world.run("delete", "a/b:x", "c/d:y", expect=2)
    missing = world.run("delete", f"{_name()}:v1", "--yes", expect=1)
    assert missing.stderr.startswith("error: ")
    assert "not found" in missing.stderr
