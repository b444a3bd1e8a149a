"""The container image: built from the Containerfile with buildah, run with podman, driven
with skopeo. It runs `dockyard serve` as a non-root user, reads settings from env and from a
mounted file, keeps its data in a volume and answers its probes (`Containerfile`,
`scripts/build-image`). The base is a Debian 12 root filesystem made locally
(fixtures.containers): nothing is pulled.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fixtures.clients import ClientEnv
from fixtures.containers import Engine, debian_base
from fixtures.http import manifest_digest
from fixtures.images import Layout
from fixtures.servers import ADMIN_USERNAME, Registry, free_port

pytestmark = [pytest.mark.slow, pytest.mark.clients, pytest.mark.metadata_neutral]

IMAGE = "localhost/dockyard:image-test"
DATA = "/var/lib/dockyard"
CONFIG = "/etc/dockyard/config.yaml"
UID = "10001"
# set in the mounted file only: seeing it in the token challenge proves the file was read
SERVICE = "dockyard-in-a-container"
NO_TLS = "--tls-verify=false"
_STARTUP_SECONDS = 120.0


@dataclass
class Container:
    """The registry container and how to start it again on the same volume and port."""

    engine: Engine
    name: str
    volume: str
    config: Path
    registry: Registry

    def start(self) -> None:
        self.engine.podman(
            "run", "--detach", f"--name={self.name}",
            # port 5000 on the container's own network, published on loopback only
            "--network=slirp4netns", f"--publish=127.0.0.1:{self.registry.port}:5000",
            f"--volume={self.volume}:{DATA}", f"--volume={self.config}:{CONFIG}:ro",
            f"--env=DOCKYARD_ADMIN_PASSWORD={self.registry.password}",
            "--env=DOCKYARD_GC_INTERVAL_MINUTES=0",
            # runc: crun refuses the hybrid cgroup layout of some CI VMs. Limits below the
            # machine's: podman's defaults are above what such sandboxes allow to be set.
            "--runtime=runc", "--ulimit=nofile=4096:4096", "--ulimit=nproc=4096:4096",
            # as the Helm chart runs it: read-only root (podman puts a tmpfs on /tmp), no
            # capabilities, no privilege escalation
            "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges",
            IMAGE,
        )  # fmt: skip
        deadline = time.monotonic() + _STARTUP_SECONDS
        while time.monotonic() < deadline:
            state = self.engine.podman("inspect", "--format={{.State.Status}}", self.name)
            if state.strip() == "exited":
                pytest.fail(f"the container exited while starting:\n{self.logs()}", pytrace=False)
            try:
                if httpx.get(f"{self.registry.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        pytest.fail(f"no /healthz within {_STARTUP_SECONDS}s:\n{self.logs()}", pytrace=False)

    def remove(self) -> None:
        self.engine.podman("rm", "--force", "--time=20", self.name)

    def logs(self) -> str:
        # podman logs replays the container's stderr on its own stderr
        proc = self.engine.podman_unchecked("logs", self.name)
        return (proc.stdout + proc.stderr)[-6000:]

    def exec(self, *argv: str) -> str:
        return self.engine.podman("exec", self.name, *argv)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = Engine()
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="module")
def image(engine: Engine) -> str:
    tarball, key = debian_base()
    base = f"localhost/dockyard-test-base:{key}"
    engine.podman("import", str(tarball), base)
    engine.build_image(IMAGE, base)
    return IMAGE


@pytest.fixture(scope="module")
def container(
    engine: Engine, image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    config = tmp_path_factory.mktemp("image-config") / "config.yaml"
    config.write_text(f"service: {SERVICE}\nundo_seconds: 0\n")
    config.chmod(0o644)  # read by the container's non-root user
    volume = f"dockyard-image-test-{secrets.token_hex(3)}"
    engine.podman("volume", "create", volume)
    registry = Registry("127.0.0.1", free_port(), ADMIN_USERNAME, secrets.token_urlsafe(18))
    started = Container(engine, f"dockyard-image-test-{secrets.token_hex(3)}", volume, config,
                        registry)  # fmt: skip
    started.start()
    try:
        yield started
    finally:
        started.remove()


@pytest.fixture
def skopeo(tmp_path: Path, container: Container) -> Iterator[ClientEnv]:
    with ClientEnv(tmp_path / "client", container.registry) as env:
        reg = container.registry
        env.run(
            "skopeo", "login", NO_TLS, "-u", reg.username, "--password-stdin", reg.hostport,
            stdin=reg.password,
        )  # fmt: skip
        yield env


def test_probes_answer_and_the_image_healthcheck_passes(
    engine: Engine, container: Container
) -> None:
    for path in ("/healthz", "/readyz"):
        resp = httpx.get(f"{container.registry.url}{path}", timeout=10)
        assert resp.status_code == 200, (path, resp.text)
        assert resp.json()["status"] == "ok"
    # readiness also says whether maintenance mode is on
    assert httpx.get(f"{container.registry.url}/readyz", timeout=10).json()["read_only"] is False
    healthcheck = json.loads(
        engine.podman("inspect", "--format={{json .Config.Healthcheck}}", container.name)
    )
    assert "/readyz" in " ".join(healthcheck["Test"])
    # runs the image's HEALTHCHECK command inside the container: 0 means healthy
    check = engine.podman_unchecked("healthcheck", "run", container.name)
    assert check.returncode == 0, check.stdout + check.stderr


def test_serves_as_a_non_root_user(engine: Engine, container: Container) -> None:
    assert container.exec("id", "-u").strip() == UID
    assert container.exec("id", "-g").strip() == UID
    # the server itself (PID 1), not only what `exec` starts: real, effective, saved, fs UIDs
    status = container.exec("cat", "/proc/1/status")
    (uid_line,) = [line for line in status.splitlines() if line.startswith("Uid:")]
    assert uid_line.split()[1:] == [UID] * 4
    cmdline = container.exec("cat", "/proc/1/cmdline").split("\0")
    assert cmdline[1:5] == ["/opt/dockyard/bin/dockyard", "serve", "--config", CONFIG]


def test_settings_come_from_the_mounted_file_and_env(container: Container) -> None:
    resp = httpx.get(f"{container.registry.url}/v2/", timeout=10)
    assert resp.status_code == 401
    assert f'service="{SERVICE}"' in resp.headers["www-authenticate"]
    reg = container.registry
    signed_in = httpx.get(f"{reg.url}/v2/", auth=(reg.username, reg.password), timeout=10)
    assert signed_in.status_code == 200  # DOCKYARD_ADMIN_PASSWORD from env
    wrong = httpx.get(f"{reg.url}/v2/", auth=(reg.username, reg.password + "x"), timeout=10)
    assert wrong.status_code == 401


def test_console_templates_and_static_files_come_with_the_package(container: Container) -> None:
    page = httpx.get(f"{container.registry.url}/", follow_redirects=True, timeout=10)
    assert page.status_code == 200
    assert "<form" in page.text  # the sign-in page
    assert 'type="password"' in page.text
    script = httpx.get(f"{container.registry.url}/static/htmx.min.js", timeout=10)
    assert script.status_code == 200
    assert len(script.content) > 10_000


def test_push_and_pull_with_skopeo_and_keep_data_in_the_volume(
    engine: Engine, container: Container, skopeo: ClientEnv, tmp_path: Path
) -> None:
    layout = Layout(tmp_path / "layout")
    pushed = layout.hello_image("v1", text="in a container")
    ref = f"docker://{container.registry.hostport}/dev/hello:v1"
    skopeo.run("skopeo", "copy", "--dest-tls-verify=false", layout.ref("v1"), ref)
    inspected = json.loads(skopeo.run("skopeo", "inspect", NO_TLS, ref).stdout)
    assert inspected["Digest"] == pushed.digest

    mounts = json.loads(engine.podman("inspect", "--format={{json .Mounts}}", container.name))
    (data,) = [m for m in mounts if m["Destination"] == DATA]
    assert data["Type"] == "volume"
    assert data["Name"] == container.volume
    # a new container on the same volume still has the image
    container.remove()
    container.start()
    assert manifest_digest(container.registry, "dev/hello", "v1") == pushed.digest
    skopeo.run("skopeo", "copy", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'back'}:v1")
    index = json.loads((tmp_path / "back" / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [pushed.digest]


def test_cli_commands_run_inside_the_container(container: Container) -> None:
    # what README and the chart's migration Job run with `podman exec` / as the Job's command
    users = container.exec("dockyard", "user", "list")
    assert ADMIN_USERNAME in users
    migrated = container.engine.podman_unchecked("exec", container.name, "dockyard", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "The schema is at revision" in migrated.stderr  # serve migrated it at start
