"""oras (oras-go): file artifacts, artifacts attached to an image, referrers discovery."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.clients import ClientEnv
from fixtures.http import manifest_digest, request
from fixtures.images import SampleImages

pytestmark = pytest.mark.clients

# oras uses plain HTTP on its own only for "localhost"
PLAIN = "--plain-http"
ARTIFACT_TYPE = "application/vnd.dockyard.test.note"
SBOM_TYPE = "application/vnd.dockyard.test.sbom"


def oras_login(env: ClientEnv) -> None:
    reg = env.registry
    proc = env.run("oras", "login", PLAIN, "-u", reg.username, "--password-stdin", reg.hostport,
                   stdin=reg.password)  # fmt: skip
    assert "Login Succeeded" in proc.stdout


def test_push_and_pull_a_file_artifact(
    client_env: ClientEnv, repo: Callable[[str], str], tmp_path: Path
) -> None:
    oras_login(client_env)
    reg = client_env.registry
    name = repo("notes")
    ref = f"{reg.hostport}/{name}:v1"
    work = tmp_path / "work"
    work.mkdir()
    (work / "note.txt").write_text("dockyard oras round trip\n")
    client_env.run("oras", "push", PLAIN, "--artifact-type", ARTIFACT_TYPE, ref,
                   "note.txt:text/plain", cwd=work)  # fmt: skip

    manifest = json.loads(client_env.run("oras", "manifest", "fetch", PLAIN, ref).stdout)
    assert manifest["artifactType"] == ARTIFACT_TYPE
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "text/plain"
    assert layer["annotations"]["org.opencontainers.image.title"] == "note.txt"
    assert manifest_digest(reg, name, "v1") is not None

    out = tmp_path / "out"
    client_env.run("oras", "pull", PLAIN, "-o", out, ref)
    assert (out / "note.txt").read_text() == "dockyard oras round trip\n"

    assert client_env.run(
        "oras", "repo", "tags", PLAIN, f"{reg.hostport}/{name}"
    ).stdout.split() == ["v1"]
    namespace = name.rsplit("/", 1)[0]
    listed = client_env.run("oras", "repo", "ls", PLAIN, f"{reg.hostport}/{namespace}").stdout
    assert "notes" in listed.split()


def test_attach_to_an_image_and_discover_through_referrers_api(
    client_env: ClientEnv,
    sample_images: SampleImages,
    repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    oras_login(client_env)
    reg = client_env.registry
    name = repo("app")
    image_ref = f"{reg.hostport}/{name}:v1"
    client_env.run("oras", "cp", "--to-plain-http", "--from-oci-layout",
                   f"{sample_images.layout.path}:v1", image_ref)  # fmt: skip
    assert manifest_digest(reg, name, "v1") == sample_images.hello.digest

    work = tmp_path / "work"
    work.mkdir()
    (work / "sbom.json").write_text('{"packages": []}\n')
    client_env.run("oras", "attach", PLAIN, "--artifact-type", SBOM_TYPE, image_ref,
                   "sbom.json:application/json", cwd=work)  # fmt: skip

    # Forced to the referrers API: GET /v2/<name>/referrers/<digest>.
    proc = client_env.run("oras", "discover", PLAIN, "--distribution-spec", "v1.1-referrers-api",
                          "--format", "json", image_ref)  # fmt: skip
    referrers = json.loads(proc.stdout)["referrers"]
    assert [r["artifactType"] for r in referrers] == [SBOM_TYPE]

    # The registry answered the subject push with OCI-Subject, so oras did not fall back to the
    # tag schema (which would have added a sha256-<hex> tag holding an index).
    tags = client_env.run("oras", "repo", "tags", PLAIN, f"{reg.hostport}/{name}").stdout.split()
    assert tags == ["v1"]

    # and the API itself, filtered by artifact type
    digest = sample_images.hello.digest
    path = f"/v2/{name}/referrers/{digest}?artifactType={SBOM_TYPE}"
    resp = request(reg, "GET", path)
    assert resp.status == 200, resp.describe("GET", path)
    assert resp.headers["content-type"].startswith("application/vnd.oci.image.index.v1+json")
    assert [m["artifactType"] for m in resp.json()["manifests"]] == [SBOM_TYPE]
