"""`dockyard usage` and `dockyard namespace quota` as a person or a script runs them: the
real command, as a process, against a running server with a token (through the admin API),
the refusal then seen through /v2."""

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

PASSWORD = "quota-reader-1"  # noqa: S105 - a test password


@dataclass
class World:
    server: DockyardServer
    push: Pusher
    v2: V2
    token: str
    reader_token: str

    def run(
        self, *args: str, expect: int = 0, token: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD_", "COLUMNS"))}
        env |= {
            "COLUMNS": "250", "DOCKYARD_SERVER": self.server.url,
            "DOCKYARD_TOKEN": token or self.token,
        }  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            capture_output=True, text=True, env=env, timeout=120, start_new_session=True,
        )  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == expect, f"{args}: {result.stdout}\n{result.stderr}"
        return result


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("usage-cli"))
    server.start()
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    try:
        with AdminApi(server.url, (server.username, server.password)) as api:
            token = api.add_token("cli")
            api.add_user("rita", PASSWORD)
            api.create_namespace("team")
            api.grant("read", "user:rita", "team")
        with AdminApi(server.url, ("rita", PASSWORD)) as api:
            reader_token = api.add_token("cli")
        v2 = V2(http)
        yield World(server, Pusher(v2), v2, token, reader_token)
    finally:
        http.close()
        server.stop()


def test_quota_set_shown_and_enforced_then_cleared(world: World) -> None:
    shared = os.urandom(30_000)
    world.push.image("team/app", [shared, os.urandom(10_000)], tags=("v1",))
    world.push.image("team/web", [shared], tags=("v1",))
    world.push.image("other/tool", [shared], tags=("v1",))

    set_ = world.run("namespaces", "quota", "set", "team", "39KiB")  # under its 40,000+
    assert "Namespace team now uses" in set_.stderr
    assert "of 39.0 KiB" in set_.stderr
    assert "over its quota" in set_.stderr

    table = world.run("usage").stdout
    team_row = next(line for line in table.splitlines() if line.startswith("team"))
    assert "39.0 KiB" in team_row
    assert "over" in team_row
    assert "team/app" in table  # the largest repositories

    detail = world.run("usage", "team")
    assert "29.3 KiB shared" in detail.stderr  # the layer other/tool links too
    assert "team/web" in detail.stdout
    repo = world.run("usage", "team/app", "--json")
    found = json.loads(repo.stdout)
    assert found["usage"]["shared_bytes"] == 30_000
    assert found["usage"]["own_bytes"] == found["usage"]["total_bytes"] - 30_000
    assert found["namespace"]["quota"]["quota_bytes"] == 39 * 1024

    r = world.v2.http.post("/v2/team/app/blobs/uploads/")
    assert r.status_code == 403
    assert "storage quota" in r.json()["errors"][0]["message"]

    shown = world.run("namespace", "quota", "show", "team", token=world.reader_token)
    assert shown.stdout.startswith("team: ")
    assert "of 39.0 KiB" in shown.stdout
    assert "OVER QUOTA" in shown.stdout

    world.run("namespace", "quota", "clear", "team")
    assert "no quota" in world.run("namespace", "quota", "show", "team").stdout
    assert world.v2.http.post("/v2/team/app/blobs/uploads/").status_code == 202


def test_refusals_are_one_line(world: World) -> None:
    refused = world.run(
        "namespace", "quota", "set", "team", "1GiB", token=world.reader_token, expect=1
    )
    assert "registry admins" in refused.stderr
    bad = world.run("namespace", "quota", "set", "team", "ten gigs", expect=2)
    assert "not a size" in bad.stderr
    missing = world.run("usage", "nope/app", expect=1)
    assert "not found" in missing.stderr
