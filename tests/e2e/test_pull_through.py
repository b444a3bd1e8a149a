"""A namespace that is a pull-through cache, as skopeo sees it: upstreams tried in order
(CNCF distribution, which lacks the image, then a Dockyard that has it), digests and the
cosign signature tag preserved, the blobs stored once in the cache, and the image still
served when the upstream is stopped; what was never cached then fails with 503."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.clients import ClientEnv
from fixtures.deletes import Pusher, blob_file
from fixtures.distribution import distribution_registry
from fixtures.servers import DockyardServer, Registry, StartServer
from fixtures.v2api import V2

pytestmark = [pytest.mark.clients, pytest.mark.slow]

NO_TLS = "--tls-verify=false"


@pytest.fixture
def distribution(tmp_path: Path) -> Iterator[Registry]:
    with distribution_registry(tmp_path / "distribution") as registry:
        yield registry


def _add_upstream(http: httpx.Client, name: str, upstream: Registry) -> None:
    body = {"name": name, "url": upstream.url, "username": upstream.username,
            "password": upstream.password}  # fmt: skip
    r = http.post("/api/v1/upstreams", json=body)
    assert r.status_code == 201, r.text


def _cached_tags(http: httpx.Client, name: str, want: set[str]) -> set[str]:
    deadline = time.monotonic() + 60
    while True:
        r = http.get(f"/v2/{name}/tags/list")
        tags = set(r.json().get("tags") or []) if r.status_code == 200 else set()
        if want <= tags or time.monotonic() > deadline:
            return tags
        time.sleep(0.2)


def test_pull_through_serves_caches_and_survives_the_upstream(
    dockyard_factory: StartServer, distribution: Registry, tmp_path: Path
) -> None:
    origin = dockyard_factory()
    caches = [{"namespace": "hub", "upstreams": ["mirror", "origin"], "tag_check_seconds": 0}]
    cache = dockyard_factory(extra_env={"DOCKYARD_PULL_THROUGH": json.dumps(caches)})
    with (
        httpx.Client(base_url=origin.url, auth=(origin.username, origin.password)) as up,
        httpx.Client(base_url=cache.url, auth=(cache.username, cache.password)) as http,
    ):
        push = Pusher(V2(up))
        image = push.image("library/app", [os.urandom(300_000), os.urandom(200_000)],
                           tags=("1.0",))  # fmt: skip
        signature = push.cosign_signature("library/app", image)
        _add_upstream(http, "mirror", distribution)
        _add_upstream(http, "origin", origin)

        out = tmp_path / "out"
        with ClientEnv(tmp_path / "client", cache) as env:
            env.run("skopeo", "login", NO_TLS, "-u", cache.username, "--password-stdin",
                    cache.hostport, stdin=cache.password)  # fmt: skip
            ref = f"docker://{cache.hostport}/hub/library/app"
            digest = env.run("skopeo", "inspect", NO_TLS, "--format", "{{.Digest}}",
                             f"{ref}:1.0").stdout.strip()  # fmt: skip
            assert digest == image.digest  # the upstream's bytes, not converted
            env.run("skopeo", "copy", "--src-tls-verify=false", f"{ref}:1.0",
                    f"oci:{out}:first")  # fmt: skip
            sig_tag = signature_tag(image.digest)
            env.run("skopeo", "copy", "--src-tls-verify=false", f"{ref}:{sig_tag}",
                    f"oci:{out}:sig")  # fmt: skip

            cached = _cached_tags(http, "hub/library/app", {"1.0", sig_tag})
            assert {"1.0", sig_tag} <= cached
            assert isinstance(cache, DockyardServer)
            assert blob_file(cache.data_dir, image.config).is_file()

            origin.stop()
            env.run("skopeo", "copy", "--src-tls-verify=false", f"{ref}:1.0",
                    f"oci:{out}:again")  # fmt: skip
            again = env.run("skopeo", "inspect", NO_TLS, "--format", "{{.Digest}}",
                            f"{ref}:1.0").stdout.strip()  # fmt: skip
            assert again == image.digest
            missing = env.run_fails("skopeo", "inspect", NO_TLS, f"{ref}:2.0")
            assert "cannot connect" in missing.stderr or "UNAVAILABLE" in missing.stderr.upper()

        audit = http.get("/api/v1/audit", params={"action": "manifest.push"}).json()
        events = audit["events"] if isinstance(audit, dict) else audit
        actors = {event["actor"] for event in events}
        assert "pull-through:origin" in actors
    assert signature.digest


def signature_tag(digest: str) -> str:
    algorithm, hexpart = digest.split(":", 1)
    return f"{algorithm}-{hexpart}.sig"
