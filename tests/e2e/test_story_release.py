"""Sarah's release flow with real clients: jane pushes `dev/skyfield/app:1.0` with skopeo
and promotes it to test with the CLI (refused until oras attaches a signature), QA pulls it
from test with skopeo, a QA lead approves it, it goes to prod; the digest is the same in all
three, the blobs are stored once on disk, the record and the audit log show every step,
and a skopeo push over the immutable prod tag is refused with the rule's message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.admin import AdminApi
from fixtures.clients import ClientEnv
from fixtures.images import Layout, SampleImages
from fixtures.servers import DockyardServer, StartServer

pytestmark = pytest.mark.clients

PASSWORD = "release-password-1"  # noqa: S105 - test accounts
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
ENVIRONMENTS = [
    {"name": "dev"},
    {"name": "test", "gates": {"referrer_types": [SIGNATURE]}},
    {"name": "prod", "gates": {"approval_group": "qa-leads"}},
]
NO_TLS = "--tls-verify=false"


@pytest.fixture
def server(dockyard_factory: StartServer) -> DockyardServer:
    return dockyard_factory(extra_env={"DOCKYARD_ENVIRONMENTS": json.dumps(ENVIRONMENTS)})


@pytest.fixture
def people(server: DockyardServer) -> Iterator[dict[str, str]]:
    """Each person's personal access token, for the CLI."""
    with AdminApi(server.url, (server.username, server.password)) as api:
        for namespace in ("dev", "test", "prod"):
            api.create_namespace(namespace)
        for name in ("jane", "quinn", "lead"):
            api.add_user(name, PASSWORD)
        for namespace in ("dev", "test", "prod"):
            api.grant("write", "user:jane", namespace)
        api.grant("read", "user:quinn", "test")
        api.grant("read", "user:lead", "test")
        api.add_group("qa-leads")
        api.add_member("qa-leads", "lead")
        rule = {"scope": "namespace", "target": "prod", "pattern": "*"}
        admin = httpx.Client(base_url=server.url, auth=(server.username, server.password))
        with admin:
            assert admin.post("/api/v1/immutable-tag-rules", json=rule).status_code == 201
        tokens = {}
        for name in ("jane", "lead"):
            with httpx.Client(base_url=server.url, auth=(name, PASSWORD)) as client:
                r = client.post("/api/v1/tokens", json={"name": "cli"})
                assert r.status_code == 201, r.text
                tokens[name] = r.json()["secret"]
        yield tokens


def _cli(server: DockyardServer, token: str, *args: str, expect: int = 0) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD_", "COLUMNS"))}
    env |= {"COLUMNS": "250", "DOCKYARD_SERVER": server.url, "DOCKYARD_TOKEN": token}
    result = subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True, text=True, env=env, timeout=120, start_new_session=True,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == expect, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _login(env: ClientEnv, tool: str, user: str, *options: str) -> None:
    env.run(tool, "login", *options, "-u", user, "--password-stdin", env.registry.hostport,
            stdin=PASSWORD)  # fmt: skip


def _digest(env: ClientEnv, ref: str) -> str:
    raw = env.run("skopeo", "inspect", NO_TLS, "--format", "{{.Digest}}", f"docker://{ref}")
    return raw.stdout.strip()


def _blob_files(server: DockyardServer) -> int:
    return sum(1 for path in (server.data_dir / "blobs").rglob("*") if path.is_file())


def test_dev_to_test_to_prod_by_digest_behind_the_gates(
    server: DockyardServer,
    people: dict[str, str],
    sample_images: SampleImages,
    tmp_path: Path,
) -> None:
    host = server.hostport
    with ClientEnv(tmp_path / "jane", server) as jane:
        _login(jane, "skopeo", "jane", NO_TLS)
        jane.run("skopeo", "copy", "--dest-tls-verify=false", sample_images.layout.ref("v1"),
                 f"docker://{host}/dev/skyfield/app:1.0")  # fmt: skip
        pushed = _digest(jane, f"{host}/dev/skyfield/app:1.0")
        stored = _blob_files(server)

        refused = _cli(server, people["jane"], "promote", "dev/skyfield/app:1.0", "--to", "test",
                       expect=1)  # fmt: skip
        assert f"a referrer of type {SIGNATURE} is missing" in refused

        _login(jane, "oras", "jane", "--plain-http")
        (tmp_path / "sig.json").write_text('{"critical": {}}\n')
        jane.run("oras", "attach", "--plain-http", "--artifact-type", SIGNATURE,
                 f"{host}/dev/skyfield/app:1.0", "sig.json:application/json",
                 cwd=tmp_path)  # fmt: skip
        done = _cli(server, people["jane"], "promote", "dev/skyfield/app:1.0", "--to", "test")
        assert "to test/skyfield/app:1.0" in done
        assert "none copied" in done

    with ClientEnv(tmp_path / "quinn", server) as quinn:
        _login(quinn, "skopeo", "quinn", NO_TLS)
        pulled = tmp_path / "pulled"
        quinn.run("skopeo", "copy", "--src-tls-verify=false",
                  f"docker://{host}/test/skyfield/app:1.0", f"oci:{pulled}:1.0")  # fmt: skip
        assert _digest(quinn, f"{host}/test/skyfield/app:1.0") == pushed
        qa_push = quinn.run_fails(
            "skopeo", "copy", "--dest-tls-verify=false", sample_images.layout.ref("v1"),
            f"docker://{host}/test/skyfield/app:qa",
        )  # fmt: skip
        assert "denied" in (qa_push.stdout + qa_push.stderr).lower()

    not_yet = _cli(server, people["jane"], "promote", "test/skyfield/app:1.0", "--to", "prod",
                   expect=1)  # fmt: skip
    assert "not yet approved by a member of qa-leads" in not_yet
    _cli(server, people["lead"], "approve", "test/skyfield/app:1.0", "--for", "prod")
    _cli(server, people["jane"], "promote", "test/skyfield/app:1.0", "--to", "prod")

    with ClientEnv(tmp_path / "jane-again", server) as jane:
        _login(jane, "skopeo", "jane", NO_TLS)
        assert _digest(jane, f"{host}/prod/skyfield/app:1.0") == pushed
        assert _blob_files(server) == stored + 2  # oras: the signature file, its empty config
        other = Layout(tmp_path / "other").hello_image("v2", text="something else")
        assert other.digest != pushed
        over = jane.run_fails(
            "skopeo", "copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'other'}:v2",
            f"docker://{host}/prod/skyfield/app:1.0",
        )  # fmt: skip
        output = over.stdout + over.stderr
        assert "denied" in output
        assert "tag prod/skyfield/app:1.0 is immutable" in output
        assert "immutable tag rule #1 (namespace prod, tags *)" in output

    record = json.loads(_cli(server, people["jane"], "promotions", "--application",
                             "skyfield/app", "--json"))  # fmt: skip
    assert [(p["source_repository"], p["target_repository"], p["digest"]) for p in record] == [
        ("test/skyfield/app", "prod/skyfield/app", pushed),
        ("dev/skyfield/app", "test/skyfield/app", pushed),
    ]
    with AdminApi(server.url, (server.username, server.password)) as api:
        actions = [e["action"] for e in reversed(api.audit(target="prod/skyfield/app:1.0"))]
        assert "image.promote" in actions
        approvals = api.audit(action="image.approve")
        assert [e["actor"] for e in approvals] == ["lead"]
        refusals = api.audit(action="image.promote.refused")
        assert len(refusals) == 2
