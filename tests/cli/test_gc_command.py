"""`dockyard gc` as a person or a script runs it: the real command, as a process, against a
running server with a token and on its data directory."""

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
from fixtures.deletes import Pusher, blob_file
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, sha256


@dataclass
class World:
    server: DockyardServer
    push: Pusher
    v2: V2
    token: str

    def run(
        self, *args: str, expect: int = 0, local: bool = False
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD_", "COLUMNS"))}
        env["COLUMNS"] = "250"
        if local:
            env["DOCKYARD_DATA_DIR"] = str(self.server.data_dir)
            env["DOCKYARD_DATABASE_URL"] = self.server.database_url
            env["DOCKYARD_GC_IN_FLIGHT_SECONDS"] = "0"
        else:
            env |= {"DOCKYARD_SERVER": self.server.url, "DOCKYARD_TOKEN": self.token}
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            capture_output=True, text=True, env=env, timeout=120, start_new_session=True,
        )  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == expect, f"{args}: {result.stdout}\n{result.stderr}"
        return result


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(
        tmp_path_factory.mktemp("gc-cli"),
        extra_env={"DOCKYARD_GC_INTERVAL_MINUTES": "0", "DOCKYARD_GC_IN_FLIGHT_SECONDS": "0"},
    )
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


def test_dry_run_lists_what_would_go_then_the_run_frees_it(world: World) -> None:
    layer = os.urandom(5000)
    image = world.push.image("gc/cli", [layer], tags=("old",))
    assert world.v2.http.delete("/v2/gc/cli/manifests/old").status_code == 202

    dry = world.run("gc", "--dry-run", "--grace", "0")
    assert image.digest in dry.stdout
    assert sha256(layer) in dry.stdout
    assert "Would remove 1 manifests" in dry.stderr
    assert blob_file(world.server.data_dir, sha256(layer)).exists()

    real = world.run("gc", "--grace", "0", "--json")
    figures = json.loads(real.stdout)["figures"]
    assert figures["manifests_removed"] == 1
    assert figures["bytes_freed"] == len(layer) + image.config_size
    assert not blob_file(world.server.data_dir, sha256(layer)).exists()

    history = world.run("gc", "--history")
    assert "collect" in history.stdout
    assert "dry-run" in history.stdout


def test_on_the_data_directory_and_verify(world: World) -> None:
    layer = os.urandom(3000)
    world.push.image("gc/local", [layer], tags=("gone",))
    assert world.v2.http.delete("/v2/gc/local/manifests/gone").status_code == 202
    local = world.run("gc", "--grace", "0", local=True)
    assert "Removed 1 manifests" in local.stderr
    assert not blob_file(world.server.data_dir, sha256(layer)).exists()

    path = blob_file(world.server.data_dir, world.push.image("gc/v", [b"x" * 64]).config)
    path.write_bytes(b"{}")  # bytes whose digest is wrong
    found = world.run("gc", "--verify", "--json")
    answer = json.loads(found.stdout)
    assert answer["figures"]["corrupt_files"] == 1
    assert [item["kind"] for item in answer["items"]] == ["corrupt"]


def test_bad_input_is_one_clear_line(world: World) -> None:
    both = world.run("gc", "--dry-run", "--verify", expect=2)
    assert "pick one" in both.stderr
    world.run("gc", "--grace", "-1", expect=2)
