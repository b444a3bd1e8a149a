"""`dockyard serve` as an operator meets it: settings from flags, env and file; health,
readiness and metrics; a clean stop on SIGTERM; the first admin's password shown once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fixtures.servers import DockyardServer, StartServer, free_port


def test_help_lists_serve() -> None:
    out = subprocess.run([sys.executable, "-m", "dockyard", "--help"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert "serve" in out
    serve_help = subprocess.run([sys.executable, "-m", "dockyard", "serve", "--help"],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
    for option in ("--host", "--port", "--data-dir", "--config"):
        assert option in serve_help


def test_health_metrics_and_sigterm(dockyard_factory: StartServer) -> None:
    server = dockyard_factory()
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").json() == {"status": "ok", "read_only": False}
        assert client.get("/v2/").status_code == 401
        metrics = client.get("/metrics").text
    assert 'dockyard_http_requests_total{method="GET",route="v2_base",status="401"}' in metrics
    assert server.process is not None
    process = server.process
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    log = server.log_tail(200)
    assert server.password not in log  # the chosen password is never logged


def test_sigterm_while_the_worker_starts_stops_the_server(tmp_path: Path) -> None:
    """A stop that comes while the worker is still importing and building the app (a pod
    deleted right after it was scheduled) ends the server. It once was lost: the worker
    came up after "Shutting down" and served on until something killed it. The reset in
    `dockyard.worker` closes most of that window; what Granian leaves open (its own
    handlers installed, its server not yet waiting for them) is bounded by
    `stop_timeout_seconds`, after which the worker is killed."""
    server = DockyardServer.create(tmp_path, extra_env={"DOCKYARD_STOP_TIMEOUT_SECONDS": "5"})
    server.launch()
    assert server.process is not None
    assert server.log_path is not None
    process = server.process
    deadline = time.monotonic() + 60
    while "Spawning worker" not in server.log_path.read_text():
        assert process.poll() is None, server.log_tail()
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(f"still running 20 s after SIGTERM:\n{server.log_tail()}") from None


def test_settings_from_file_and_env(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "dockyard.yaml"
    config.write_text(f"port: {port + 1}\nhost: 127.0.0.1\nservice: from-file\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env |= {"DOCKYARD_PORT": str(port), "DOCKYARD_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "serve", "--config", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        challenge = _wait_for_challenge(f"http://127.0.0.1:{port}/v2/")
        assert 'service="from-file"' in challenge  # the file's setting, env's port
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    # No password was given: one was generated, printed once and saved 0600.
    saved = tmp_path / "data" / "initial-admin-password"
    password = saved.read_text().strip()
    assert password in output
    assert saved.stat().st_mode & 0o777 == 0o600


def _wait_for_challenge(url: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return httpx.get(url).headers["www-authenticate"]
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")
