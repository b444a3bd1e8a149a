"""The sysadmin and QA stories of the spec, end to end: a real slapd holding hackershop.lan,
a Dockyard joined to it, and real clients (skopeo, podman, buildah) signing in with directory
passwords, personal tokens and robot secrets.

Sarah (registry admin) creates the repository `skyfield` with write for josh, eric and jane
and read for the directory group qa; jane pushes, eric builds on it, greg and frank (qa) pull
and are refused on push with `denied`, and nothing of their push is stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dockyard.metadata.db import Database
from dockyard.metadata.queries.access import bump_generation
from fixtures.admin import AdminApi
from fixtures.clients import ClientEnv
from fixtures.images import SampleImages
from fixtures.servers import DockyardServer, Registry
from fixtures.slapd import Slapd
from fixtures.sql import run_sql

pytestmark = pytest.mark.clients

NO_TLS = "--tls-verify=false"


@dataclass
class Hackershop:
    server: DockyardServer
    slapd: Slapd
    root: Path

    def person(self, name: str, password: str | None = None) -> ClientEnv:
        """A client home for `name`, signed in with `password` (default: the directory's)."""
        secret = password if password is not None else self.slapd.passwords[name]
        registry = Registry(self.server.host, self.server.port, name, secret)
        return ClientEnv(self.root / f"{name}-{time.monotonic_ns()}", registry)

    def admin(self) -> AdminApi:
        return AdminApi(self.server.url, (self.server.username, self.server.password))

    def api(self, user: str, password: str | None = None) -> AdminApi:
        secret = password if password is not None else self.slapd.passwords[user]
        return AdminApi(self.server.url, (user, secret))

    def db_rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        db = Database(self.server.database_url)
        try:
            with db.read() as conn:
                return [tuple(row) for row in run_sql(conn, sql, params)]
        finally:
            db.close()

    def dockyard_cli(self, *args: str, token: str, stdin: str | None = None) -> str:
        env = {"DOCKYARD_SERVER": self.server.url, "DOCKYARD_TOKEN": token, "PATH": "/usr/bin"}
        done = subprocess.run(
            [sys.executable, "-m", "dockyard", *args], input=stdin, capture_output=True,
            text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"dockyard {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, slapd: Slapd) -> Iterator[Hackershop]:
    root = tmp_path_factory.mktemp("hackershop")
    directories = json.dumps([slapd.directory_config()])
    server = DockyardServer.create(root / "server", extra_env={"DOCKYARD_DIRECTORIES": directories})
    server.start()
    try:
        yield Hackershop(server, slapd, root)
    finally:
        server.stop()


def _skopeo_push(env: ClientEnv, images: SampleImages, dest: str, *creds: str) -> None:
    env.run("skopeo", "copy", "--dest-tls-verify=false", *creds, images.layout.ref("v1"),
            f"docker://{env.registry.hostport}/{dest}")  # fmt: skip


def _tags(shop: Hackershop, name: str) -> list[str]:
    r = httpx.get(f"{shop.server.url}/v2/{name}/tags/list",
                  auth=(shop.server.username, shop.server.password))  # fmt: skip
    assert r.status_code == 200, r.text
    tags: list[str] = r.json()["tags"]
    return tags


def _linked_blobs(shop: Hackershop, name: str) -> int:
    rows = shop.db_rows(
        "SELECT COUNT(*) FROM repository_blob rb JOIN repository r ON r.id = rb.repository_id "
        "WHERE r.name = ?", (name,),
    )  # fmt: skip
    return int(str(rows[0][0]))


def test_skyfield_story(shop: Hackershop, sample_images: SampleImages) -> None:
    # The local admin makes sarah, a directory account, a registry admin before she ever
    # signed in; she then works with her directory password and a personal token.
    with shop.admin() as admin:
        admin._call("PATCH", "/users/hackershop%5Csarah", 200, json={"admin": True})
    with shop.api("sarah") as sarah:
        sarah_token = sarah.add_token("laptop")
        shop.dockyard_cli("repo", "create", "skyfield", token=sarah_token)
        for person in ("josh", "eric"):
            shop.dockyard_cli("grant", "write", "--to", f"user:{person}", "--on",
                              "repository:skyfield", token=sarah_token)  # fmt: skip
        sarah.grant("write", "user:jane", "repository:skyfield")
        sarah.grant("read", "group:qa", "repository:skyfield")

    # jane signs in with skopeo and podman and pushes a Fedora-like image
    jane = shop.person("jane")
    host = jane.registry.hostport
    jane.run("skopeo", "login", NO_TLS, "-u", "jane", "--password-stdin", host,
             stdin=shop.slapd.passwords["jane"])  # fmt: skip
    assert "Login Succeeded" in jane.podman("login", NO_TLS, "-u", "jane", "-p",
                                            shop.slapd.passwords["jane"], host).stdout  # fmt: skip
    _skopeo_push(jane, sample_images, "skyfield:latest")
    assert _tags(shop, "skyfield") == ["latest"]

    # eric pulls it, adds a layer with buildah and pushes a new tag
    eric = shop.person("eric")
    eric.run("buildah", "login", NO_TLS, "-u", "eric", "--password-stdin", host,
             stdin=shop.slapd.passwords["eric"])  # fmt: skip
    container = eric.run("buildah", "from", NO_TLS, f"{host}/skyfield:latest").stdout.strip()
    (eric.root / "tweak.conf").write_text("tweaked = true\n")
    eric.run("buildah", "copy", container, str(eric.root / "tweak.conf"), "/etc/tweak.conf")
    eric.run("buildah", "commit", container, "skyfield-eric")
    eric.run("buildah", "push", NO_TLS, "skyfield-eric", f"docker://{host}/skyfield:eric")
    assert _tags(shop, "skyfield") == ["eric", "latest"]

    # greg and frank (group qa, read) pull both tags; their pushes are denied, nothing stored
    for person in ("greg", "frank"):
        qa = shop.person(person)
        qa.run("skopeo", "login", NO_TLS, "-u", person, "--password-stdin", host,
               stdin=shop.slapd.passwords[person])  # fmt: skip
        for tag in ("latest", "eric"):
            qa.run("skopeo", "copy", "--src-tls-verify=false", f"docker://{host}/skyfield:{tag}",
                   f"dir:{qa.root / tag}")  # fmt: skip
        before = _linked_blobs(shop, "skyfield")
        container = qa.run("buildah", "from", NO_TLS, f"{host}/skyfield:eric").stdout.strip()
        (qa.root / "local.conf").write_text(f"{person} was here\n")
        qa.run("buildah", "copy", container, str(qa.root / "local.conf"), "/etc/local.conf")
        qa.run("buildah", "commit", container, "mine")
        refused = qa.run_fails("buildah", "push", NO_TLS, "mine", f"docker://{host}/skyfield:qa")
        assert "denied" in refused.stderr + refused.stdout
        assert _tags(shop, "skyfield") == ["eric", "latest"]
        assert _linked_blobs(shop, "skyfield") == before


def test_no_grant_sees_nothing_and_wrong_password_is_401(shop: Hackershop) -> None:
    with shop.admin() as admin:
        admin.create_repository("hidden/app")
        admin.add_user("visitor", "visitor-password")
    with httpx.Client(base_url=shop.server.url, auth=("visitor", "visitor-password")) as c:
        assert c.get("/v2/").status_code == 200
        assert c.get("/v2/_catalog").json()["repositories"] == []
        refused = c.get("/v2/hidden/app/tags/list")
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["code"] == "DENIED"
    for user, password in (("jane", "not-her-password"), ("nobody-at-all", "x" * 12)):
        r = httpx.get(f"{shop.server.url}/v2/", auth=(user, password))
        assert r.status_code == 401
        assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    jane = shop.person("jane", "not-her-password")
    failed = jane.run("skopeo", "login", NO_TLS, "-u", "jane", "--password-stdin",
                      jane.registry.hostport, stdin="not-her-password", check=False)  # fmt: skip
    assert failed.returncode != 0
    assert "invalid username/password" in failed.stderr


def test_anonymous_pull_only_where_the_policy_says(
    shop: Hackershop, sample_images: SampleImages
) -> None:
    with shop.admin() as admin:
        admin.create_namespace("public", policy="anonymous")
        admin.create_namespace("internal", policy="shared")
    pusher = shop.person(shop.server.username, shop.server.password)
    creds = f"--dest-creds={shop.server.username}:{shop.server.password}"
    for name in ("public/tools:1", "internal/tools:1"):
        _skopeo_push(pusher, sample_images, name, creds)
    anonymous = shop.person("anonymous", "")
    host = anonymous.registry.hostport
    anonymous.run("skopeo", "inspect", NO_TLS, "--no-creds", f"docker://{host}/public/tools:1")
    for name in ("internal/tools:1", "skyfield:latest"):
        denied = anonymous.run_fails("skopeo", "inspect", NO_TLS, "--no-creds",
                                     f"docker://{host}/{name}")  # fmt: skip
        assert "unauthorized" in denied.stderr.lower() or "401" in denied.stderr
    # a ping still challenges: clients read the challenge only there (pitfalls §4)
    assert httpx.get(f"{shop.server.url}/v2/").status_code == 401
    # "shared": every signed-in person may pull, with no grant
    greg = httpx.get(f"{shop.server.url}/v2/internal/tools/tags/list",
                     auth=("greg", shop.slapd.passwords["greg"]))  # fmt: skip
    assert greg.status_code == 200


def test_robot_pushes_to_its_namespace_only_until_revoked_or_expired(
    shop: Hackershop, sample_images: SampleImages
) -> None:
    with shop.admin() as admin:
        admin.create_namespace("builds")
        username, secret = admin.add_robot("ci", [("write", "builds")])
    assert username == "robot$ci"
    env = shop.person(username, secret)
    creds = f"--dest-creds={username}:{secret}"
    _skopeo_push(env, sample_images, "builds/app:1", creds)
    elsewhere = env.run_fails("skopeo", "copy", "--dest-tls-verify=false", creds,
                              sample_images.layout.ref("v1"),
                              f"docker://{env.registry.hostport}/skyfield:robot")  # fmt: skip
    assert "denied" in elsewhere.stderr
    with shop.admin() as admin:
        admin.revoke_robot("ci")
    revoked = env.run_fails("skopeo", "copy", "--dest-tls-verify=false", creds,
                            sample_images.layout.ref("v1"),
                            f"docker://{env.registry.hostport}/builds/app:2")  # fmt: skip
    assert "unauthorized" in revoked.stderr.lower() or "401" in revoked.stderr

    with shop.admin() as admin:
        username, secret = admin.add_robot("nightly", [("write", "builds")], expires_in_days=1)
    creds = f"--dest-creds={username}:{secret}"
    _skopeo_push(env, sample_images, "builds/app:3", creds)
    # a day later (the clock is moved by moving the expiry into the past)
    db = Database(shop.server.database_url)
    try:
        with db.write() as conn:
            run_sql(conn, "UPDATE robot SET expires_at = ? WHERE name = 'nightly'",
                                 (int(time.time()) - 1,))  # fmt: skip
            bump_generation(conn)
    finally:
        db.close()
    expired = env.run_fails("skopeo", "copy", "--dest-tls-verify=false", creds,
                            sample_images.layout.ref("v1"),
                            f"docker://{env.registry.hostport}/builds/app:4")  # fmt: skip
    assert "unauthorized" in expired.stderr.lower() or "401" in expired.stderr
    assert _tags(shop, "builds/app") == ["1", "3"]


def test_personal_token_logs_in_podman_and_the_audit_log_tells(shop: Hackershop) -> None:
    with shop.api("jane") as jane_api:
        token = jane_api.add_token("podman")
    env = shop.person("jane", token)
    assert "Login Succeeded" in env.podman("login", NO_TLS, "-u", "jane", "-p", token,
                                           env.registry.hostport).stdout  # fmt: skip
    assert httpx.get(f"{shop.server.url}/v2/", auth=("jane", "a-stale-password")).status_code == 401
    with shop.admin() as admin:
        events = admin.audit(action="login.failure")
        successes = admin.audit(action="login.success")
    assert any(e["detail"] and "jane" in json.dumps(e["detail"]) for e in events)
    assert all(e["address"] for e in events)
    assert any(e["actor"] == "hackershop\\jane" for e in successes)
