"""Read-only maintenance mode on the whole app: every write path is refused with one clear
OCI error, every read keeps working, and the switch is an admin-only API call."""

from __future__ import annotations

import dataclasses
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from dockyard.app import create_app
from dockyard.auth.bootstrap import bootstrap_admin
from dockyard.auth.manage import ManageContext
from dockyard.auth.manage.maintenance import set_maintenance
from dockyard.cli.client import InProcessTransport
from dockyard.config import Settings
from dockyard.metadata.db import Database
from dockyard.registry import gc, retention
from dockyard.storage.filesystem import FilesystemBlobStore
from fixtures.manage import OPERATOR
from fixtures.v2api import V2, sha256

PASSWORD = secrets.token_urlsafe(18)
MESSAGE = "moving the blob store, back at 14:00"
REFUSAL = f"the registry is in read-only maintenance mode: {MESSAGE}"


@dataclass
class App:
    v2: V2
    anonymous: httpx.Client

    @property
    def http(self) -> httpx.Client:
        return self.v2.http

    def switch(self, read_only: bool, message: str | None = MESSAGE) -> httpx.Response:
        body = {"read_only": read_only, "message": message if read_only else None}
        return self.http.put("/api/v1/maintenance", json=body)


def _app(data_dir: Path, **settings: object) -> Iterator[App]:
    config = Settings(data_dir=data_dir, gc_interval_minutes=0, retention_interval_minutes=0,
                      access_log=False, **settings)  # type: ignore[arg-type]  # fmt: skip
    db = Database(config.sqlalchemy_url)
    db.migrate()
    bootstrap_admin(db, PASSWORD, data_dir)
    db.close()
    app = create_app(config)
    with start_blocking_portal() as portal:
        transport = InProcessTransport(app, portal, ("127.0.0.1", 40000))
        with (
            httpx.Client(transport=transport, base_url="http://registry.test",
                         auth=("admin", PASSWORD)) as signed_in,
            httpx.Client(transport=transport, base_url="http://registry.test") as anonymous,
        ):  # fmt: skip
            yield App(V2(signed_in), anonymous)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    yield from _app(tmp_path / "data")


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 405, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == "UNSUPPORTED"
    assert error["message"] == REFUSAL


def test_every_write_is_refused_and_every_read_works(app: App) -> None:
    name = "team/app"
    layer = app.v2.push_blob(name, b"layer bytes")
    payload = app.v2.image_manifest(name, [b"config-and-layer"])
    assert app.v2.put_manifest(name, "v1", payload).status_code == 201
    # an upload begun before the switch cannot be finished during it
    started = app.http.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202
    session = started.headers["location"]

    assert app.switch(True).json()["read_only"] is True

    _refused(app.http.post(f"/v2/{name}/blobs/uploads/"))
    _refused(app.http.post(f"/v2/{name}/blobs/uploads/?digest={sha256(b'x')}", content=b"x"))
    _refused(app.http.post(f"/v2/{name}/blobs/uploads/?mount={layer}&from={name}"))
    _refused(app.http.patch(session, content=b"more"))
    _refused(app.http.put(f"{session}?digest={sha256(b'more')}", content=b"more"))
    _refused(app.http.delete(session))
    _refused(app.v2.put_manifest(name, "v2", payload))
    _refused(app.http.delete(f"/v2/{name}/manifests/v1"))
    _refused(app.http.delete(f"/v2/{name}/manifests/{sha256(payload)}"))
    _refused(app.http.delete(f"/v2/{name}/blobs/{layer}"))
    # the console's and the API's deletes, garbage collection, retention
    deletion = {"kind": "tag", "repository": name, "tags": ["v1"]}
    _refused(app.http.post("/api/v1/deletions", json=deletion))
    _refused(app.http.post("/api/v1/deletions", json={"kind": "repository", "repository": name}))
    _refused(app.http.post("/api/v1/gc/runs", json={"mode": "collect"}))
    _refused(app.http.post("/api/v1/gc/runs", json={"mode": "verify"}))
    policy = {"enabled": True, "rules": {"keep_last": 1}}
    assert app.http.put(f"/api/v1/retention/policies/repository/{name}", json=policy).is_success
    _refused(app.http.post(f"/api/v1/retention/run/repository/{name}", json={}))

    # reads: pulls, lists, catalog, search, previews, a dry run, sign-in
    assert app.http.get(f"/v2/{name}/manifests/v1").content == payload
    assert app.http.head(f"/v2/{name}/manifests/{sha256(payload)}").status_code == 200
    assert app.http.get(f"/v2/{name}/blobs/{layer}").content == b"layer bytes"
    assert app.http.get(f"/v2/{name}/tags/list").json()["tags"] == ["v1"]
    assert app.http.get("/v2/_catalog").json()["repositories"] == [name]
    assert app.http.get("/api/v1/search", params={"q": "app"}).status_code == 200
    assert app.http.post("/api/v1/deletions/preview", json=deletion).status_code == 200
    assert app.http.post("/api/v1/gc/runs", json={"mode": "dry-run"}).status_code == 202
    scope = f"repository:{name}:pull,push"
    token = app.http.get("/auth/token", params={"service": "dockyard", "scope": scope})
    assert token.status_code == 200
    bearer = {"Authorization": f"Bearer {token.json()['token']}"}
    assert app.anonymous.get(f"/v2/{name}/manifests/v1", headers=bearer).status_code == 200

    # still ready (pulls are served), saying why writes are not; and a metric
    assert app.http.get("/readyz").json() == {"status": "ok", "read_only": True,
                                              "detail": REFUSAL}  # fmt: skip
    assert "dockyard_read_only 1.0" in app.http.get("/metrics").text
    # the console shows a banner on every page, the sign-in page included
    assert MESSAGE in app.anonymous.get("/signin").text

    off = app.switch(False).json()
    assert (off["read_only"], off["message"]) == (False, None)
    assert app.v2.put_manifest(name, "v2", payload).status_code == 201
    assert app.http.delete(f"/v2/{name}/manifests/v2").status_code == 202
    assert app.http.get("/readyz").json() == {"status": "ok", "read_only": False}
    assert "dockyard_read_only 0.0" in app.http.get("/metrics").text
    assert MESSAGE not in app.anonymous.get("/signin").text


def test_an_anonymous_push_is_challenged_first(app: App) -> None:
    """Clients sign in on the 401 and only then see why the push is refused."""
    app.switch(True)
    challenged = app.anonymous.post("/v2/team/app/blobs/uploads/")
    assert challenged.status_code == 401
    assert challenged.headers["www-authenticate"].startswith("Bearer ")


def test_only_registry_admins_switch_the_mode(app: App) -> None:
    assert app.http.post("/api/v1/users", json={"name": "dev", "password": "dev-password-1"}
                         ).is_success  # fmt: skip
    dev = {"auth": ("dev", "dev-password-1")}
    assert app.http.put("/api/v1/maintenance", json={"read_only": True}, **dev).status_code == 403  # type: ignore[arg-type]
    assert app.http.get("/api/v1/maintenance", **dev).status_code == 403  # type: ignore[arg-type]
    assert app.anonymous.get("/api/v1/maintenance").status_code == 401
    status = app.http.get("/api/v1/maintenance").json()
    assert status == {"read_only": False, "forced_by_settings": False, "message": None,
                      "changed_by": None, "changed_at": None}  # fmt: skip
    on = app.switch(True).json()
    assert (on["message"], on["changed_by"]) == (MESSAGE, "admin")
    actions = [e["action"] for e in app.http.get("/api/v1/audit").json()["events"]]
    assert "maintenance.on" in actions


def test_the_setting_holds_the_mode_on(tmp_path: Path) -> None:
    for app in _app(tmp_path / "data", read_only=True):
        refused = app.http.post("/v2/team/app/blobs/uploads/")
        assert refused.status_code == 405
        assert "read-only maintenance mode" in refused.json()["errors"][0]["message"]
        status = app.switch(False).json()
        assert (status["read_only"], status["forced_by_settings"]) == (True, True)
        assert app.http.post("/v2/team/app/blobs/uploads/").status_code == 405


def test_scheduled_gc_and_retention_skip_with_a_logged_reason(
    ctx: ManageContext, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = dataclasses.replace(ctx, store=FilesystemBlobStore(tmp_path, direct_io=False))
    set_maintenance(ctx, OPERATOR, None, True, MESSAGE)
    with caplog.at_level("INFO"):
        assert gc.run_scheduled(ctx, threading.Event()) is None
        assert retention.run_scheduled(ctx, threading.Event()) == []
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert [r.name for r in skipped] == ["dockyard.gc", "dockyard.retention"]
    assert all(getattr(r, "fields", {})["reason"] == REFUSAL for r in skipped)
    with ctx.db.read() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM gc_run").scalar() == 0
    set_maintenance(ctx, OPERATOR, None, False)
    assert gc.run_scheduled(ctx, threading.Event()) is not None
