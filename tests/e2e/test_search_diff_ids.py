"""Search by a layer's diff ID on a real server: an image pushed with skopeo is found by the
diff ID that `skopeo inspect --config` prints, and an image whose diff IDs were never
indexed (a database from before they were, simulated by deleting the rows while the server
is stopped) is found again once the start-up backfill has run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete

from dockyard.metadata.db import Database
from dockyard.metadata.models import ImageDiffId, table_of
from fixtures.clients import ClientEnv
from fixtures.images import SampleImages
from fixtures.servers import DockyardServer, StartServer

pytestmark = [pytest.mark.clients, pytest.mark.slow]

NO_TLS = "--tls-verify=false"


def _search(server: DockyardServer, q: str) -> list[tuple[str, str, str]]:
    answer = httpx.get(
        f"{server.url}/api/v1/search",
        params={"q": q},
        auth=(server.username, server.password),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return [(d["repository"], d["match"], d["matched_digest"]) for d in answer.json()["digests"]]


def test_found_by_the_diff_id_skopeo_prints(
    dockyard_factory: StartServer, sample_images: SampleImages, tmp_path: Path
) -> None:
    server = dockyard_factory()
    with ClientEnv(tmp_path / "client", server) as env:
        env.run(
            "skopeo", "login", NO_TLS, "-u", server.username, "--password-stdin",
            server.hostport, stdin=server.password,
        )  # fmt: skip
        ref = f"docker://{server.hostport}/dev/hello:v1"
        env.run("skopeo", "copy", "--dest-tls-verify=false", sample_images.layout.ref("v1"), ref)
        config = json.loads(env.run("skopeo", "inspect", NO_TLS, "--config", ref).stdout)
    diff_ids: list[str] = config["rootfs"]["diff_ids"]
    assert diff_ids
    last = diff_ids[-1]
    assert _search(server, last) == [("dev/hello", "layer diff ID", last)]
    assert _search(server, last[7:19]) == [("dev/hello", "layer diff ID", last)]

    server.stop()
    db = Database(server.database_url)
    try:
        with db.write() as conn:
            conn.execute(delete(table_of(ImageDiffId)))
    finally:
        db.close()
    server.start()
    deadline = time.monotonic() + 30
    while not _search(server, last):  # the backfill runs beside the server, not before it
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.2)
    assert _search(server, last) == [("dev/hello", "layer diff ID", last)]
    assert "indexed layer diff IDs" in server.log_tail()
