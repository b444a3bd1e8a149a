"""Read-only maintenance mode seen by real clients and by every server process: the CLI
switches it on the data directory, a second server on the same database refuses skopeo's
push on its next request (the message in skopeo's output) and still serves the pull."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.clients import ClientEnv
from fixtures.images import SampleImages
from fixtures.servers import DockyardServer, StartServer, free_port

pytestmark = pytest.mark.clients

MESSAGE = "storage migration until 15:00 UTC"


def _maintenance(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    return subprocess.run(
        [sys.executable, "-m", "dockyard", "maintenance", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    )  # fmt: skip


def test_cli_switch_reaches_another_server_and_skopeo_shows_why(
    dockyard_factory: StartServer, sample_images: SampleImages, tmp_path: Path
) -> None:
    first = dockyard_factory()
    # a second process on the same data directory and database (another replica)
    second = DockyardServer(
        host=first.host, port=free_port(), username=first.username, password=first.password,
        log_path=tmp_path / "second.log", data_dir=first.data_dir,
    )  # fmt: skip
    second.start()
    try:
        with ClientEnv(tmp_path / "client", second) as env:
            env.run("skopeo", "login", "--tls-verify=false", "-u", second.username,
                    "--password-stdin", second.hostport, stdin=second.password)  # fmt: skip
            before = f"docker://{second.hostport}/ops/app:v1"
            env.run("skopeo", "copy", "--dest-tls-verify=false",
                    sample_images.layout.ref("v1"), before)  # fmt: skip

            on = _maintenance(first.data_dir, "on", "--message", MESSAGE)
            assert "READ-ONLY" in on.stderr
            assert MESSAGE in _maintenance(first.data_dir, "status").stderr

            refused = env.run_fails(
                "skopeo", "copy", "--dest-tls-verify=false", sample_images.layout.ref("v1"),
                f"docker://{second.hostport}/ops/app:v2",
            )  # fmt: skip
            assert f"read-only maintenance mode: {MESSAGE}" in refused.stderr
            pulled = tmp_path / "pulled"
            env.run("skopeo", "copy", "--src-tls-verify=false", before, f"oci:{pulled}:v1")
            assert (pulled / "index.json").is_file()

            _maintenance(first.data_dir, "off")
            after = f"docker://{second.hostport}/ops/app:v2"
            env.run("skopeo", "copy", "--dest-tls-verify=false",
                    sample_images.layout.ref("v1"), after)  # fmt: skip
    finally:
        second.stop()
