"""Last-pulled times: a pull by tag credits the tag and its manifest, a pull by digest only
the manifest, a HEAD by digest (a push checking what exists) neither; the server writes what
its workers noted when it stops, and a flush never moves a time backwards."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import select

from dockyard.metadata.db import Database
from dockyard.metadata.models import Manifest, Tag, table_of
from dockyard.registry.pulls import PullRecorder
from fixtures.deletes import Pusher
from fixtures.servers import StartServer
from fixtures.v2api import V2

_man = table_of(Manifest)
_tag = table_of(Tag)
ACCEPT = {"accept": "application/vnd.oci.image.manifest.v1+json"}


def _times(db: Database) -> tuple[dict[str, int | None], dict[str, int | None]]:
    with db.read() as conn:
        manifests = {r.digest: r.last_pulled_at for r in conn.execute(select(_man))}
        tags = {r.name: r.last_pulled_at for r in conn.execute(select(_tag))}
    return manifests, tags


def test_pulls_are_recorded_and_written_at_shutdown(dockyard_factory: StartServer) -> None:
    server = dockyard_factory(extra_env={"DOCKYARD_GC_INTERVAL_MINUTES": "0"})
    auth = (server.username, server.password)
    with httpx.Client(base_url=server.url, auth=auth, timeout=30) as http:
        push = Pusher(V2(http))
        pulled = push.image("app/web", [b"layer-a"], tags=("1.0",))
        by_digest = push.image("app/web", [b"layer-b"], tags=("2.0",))
        untouched = push.image("app/web", [b"layer-c"], tags=("3.0",))
        before = int(time.time())
        assert http.get("/v2/app/web/manifests/1.0", headers=ACCEPT).status_code == 200
        assert http.get(f"/v2/app/web/manifests/{by_digest.digest}").status_code == 200
        assert http.head(f"/v2/app/web/manifests/{untouched.digest}").status_code == 200
    server.stop()

    db = Database(server.database_url)
    try:
        manifests, tags = _times(db)
    finally:
        db.close()
    assert (manifests[pulled.digest] or 0) >= before
    assert (tags["1.0"] or 0) >= before
    assert (manifests[by_digest.digest] or 0) >= before
    assert tags["2.0"] is None  # pulled by digest: the tag was not what the client asked for
    assert manifests[untouched.digest] is None
    assert tags["3.0"] is None


def test_a_flush_keeps_a_later_time(dockyard_factory: StartServer) -> None:
    server = dockyard_factory(extra_env={"DOCKYARD_GC_INTERVAL_MINUTES": "0"})
    auth = (server.username, server.password)
    with httpx.Client(base_url=server.url, auth=auth, timeout=30) as http:
        image = Pusher(V2(http)).image("app/api", [b"layer"], tags=("latest",))
    server.stop()

    db = Database(server.database_url)
    try:
        stale, fresh = PullRecorder(db), PullRecorder(db)  # two workers
        stale.record("app/api", image.digest, "latest")
        time.sleep(1.1)  # times are whole seconds
        fresh.record("app/api", image.digest, "latest")
        assert fresh.flush() == 2
        after_fresh = _times(db)
        assert after_fresh[0][image.digest] is not None
        assert after_fresh[0][image.digest] == after_fresh[1]["latest"]
        stale.record("app/api", "sha256:" + "0" * 64, None)  # unknown: updates nothing
        assert stale.flush() == 3  # the older times and the unknown digest, all written
        assert _times(db) == after_fresh
        assert PullRecorder(db).flush() == 0
    finally:
        db.close()
