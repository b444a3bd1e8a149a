"""`dockyard retention` as a person or a script runs it: the real command, as a process,
against a running server with a token (through the admin API)."""

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
    v2: V2
    token: str

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

    def tags(self, repository: str) -> set[str]:
        r = self.v2.http.get(f"/v2/{repository}/tags/list")
        return set(r.json()["tags"] or []) if r.status_code == 200 else set()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(
        tmp_path_factory.mktemp("retention-cli"),
        extra_env={"DOCKYARD_GC_INTERVAL_MINUTES": "0", "DOCKYARD_RETENTION_INTERVAL_MINUTES": "0"},
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


def test_set_simulate_apply_and_restore(world: World) -> None:
    for i in range(4):
        world.push.image("ret/app", [os.urandom(3000)], tags=(f"b{i}",))
    world.push.image("ret/app", [os.urandom(3000)], tags=("release-1",))
    out = world.run("retention", "set", "ret/app", "--keep-last", "2", "--keep", "release-*")
    assert "disabled" in out.stderr
    assert "keep the 2 most recently pushed" in out.stderr

    sim = world.run("retention", "simulate", "ret/app")
    shown = {line.split()[1] for line in sim.stdout.splitlines()[1:] if line.strip()}
    assert shown == {"b0", "b1", "b2"}  # release-1 is one of the 2 newest, and matches
    assert "beyond the 2 most recently pushed" in sim.stdout
    assert "3 of 5 tags" in sim.stderr
    as_json = json.loads(world.run("retention", "simulate", "ret/app", "--json").stdout)
    assert {r["tag"] for r in as_json["removals"]} == {"b0", "b1", "b2"}
    assert as_json["bytes_freed"] > 9000
    unsaved = json.loads(
        world.run("retention", "simulate", "ret/app", "--keep-last", "4", "--json").stdout
    )
    assert {r["tag"] for r in unsaved["removals"]} == {"b0"}

    world.run("retention", "apply", "ret/app", "--yes")
    assert world.tags("ret/app") == {"b3", "release-1"}
    listed = world.run("retention", "removed", "ret/app", "--json")
    removed = {r["tag"]: r for r in json.loads(listed.stdout)}
    assert set(removed) == {"b0", "b1", "b2"}
    assert "beyond the 2 most recently pushed" in (removed["b0"]["reason"] or "")
    world.run("retention", "restore", str(removed["b0"]["id"]))
    assert world.tags("ret/app") == {"b0", "b3", "release-1"}
    again = world.run("retention", "restore", str(removed["b0"]["id"]), expect=1)
    assert "not found" in again.stderr

    policies = world.run("retention", "list")
    assert "ret/app" in policies.stdout
    world.run("retention", "remove-policy", "ret/app")
    assert "No retention policies" in world.run("retention", "list").stderr


def test_bad_rules_and_unknown_targets_are_refused(world: World) -> None:
    bad = world.run("retention", "set", "ret/x", "--keep", "re:(", expect=1)
    assert "not a valid regex" in bad.stderr
    missing = world.run("retention", "simulate", "nothing/here", expect=1)
    assert "no retention policy" in missing.stderr
