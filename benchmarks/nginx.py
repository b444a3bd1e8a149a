"""nginx round-robin in front of Dockyard replicas, configured from the README's recipe
(`deploy/nginx/dockyard.conf`).

The recipe's proxy settings are kept line for line; only the listen address (plain HTTP on
loopback), the TLS lines and the upstream's servers change. Access logging is off, as it is for
every registry the benchmarks start. One worker process: on a 2-core machine shared with the
replicas and the load generator, a second one would only take turns with them.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.procs import ServerProcess, free_port
from benchmarks.registries import REPO_ROOT, run_text

__all__ = ["RECIPE", "Nginx", "version"]

RECIPE = REPO_ROOT / "deploy" / "nginx" / "dockyard.conf"
_TLS_LINE = re.compile(r"^\s*(ssl_\w+|http2)\s")
_UNPRIVILEGED = "nobody"


def _binary() -> str:
    found = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if found is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    return found


def version() -> str:
    return run_text([_binary(), "-v"]).removeprefix("nginx version: ")


def _server_block(listen: str, upstreams: Sequence[str]) -> str:
    """The recipe with `listen` and one `server` line per upstream put in. Fails when the
    recipe lost the lines this replaces, so a changed recipe is noticed."""
    out: list[str] = []
    replaced = {"listen": 0, "server": 0}
    in_upstream = False
    for line in RECIPE.read_text().splitlines():
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped.startswith("#") or _TLS_LINE.match(line):
            continue
        if stripped.startswith("upstream "):
            in_upstream = True
        elif in_upstream and stripped == "}":
            in_upstream = False
        elif in_upstream and stripped.startswith("server "):
            out.extend(f"{indent}server {address};" for address in upstreams)
            replaced["server"] += 1
            continue
        elif stripped.startswith("listen "):
            out.append(f"{indent}listen {listen};")
            replaced["listen"] += 1
            continue
        out.append(line)
    if replaced != {"listen": 1, "server": 1}:
        raise RuntimeError(f"{RECIPE.name}: expected one listen and one upstream server line")
    return "\n".join(out) + "\n"


class Nginx:
    """One nginx balancing over `upstreams` (host:port each); `stop()` always works."""

    def __init__(self, upstreams: Sequence[str]) -> None:
        self.upstreams = list(upstreams)
        self.port = free_port()
        self.server: ServerProcess | None = None
        # Its own folder in the system's temporary folder: nginx runs as an unprivileged user
        # when we are root, and that user cannot enter root's 0700 work directory.
        self.base_dir = Path(tempfile.mkdtemp(prefix="dockyard-bench-nginx-"))

    @property
    def pid(self) -> int:
        if self.server is None:
            raise RuntimeError("nginx is not running")
        return self.server.pid

    def _config(self) -> str:
        temp = self.base_dir / "temp"
        temp_paths = "".join(
            f"    {kind}_temp_path {temp / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return (
            f"pid {self.base_dir / 'nginx.pid'};\n"
            f"error_log {self.base_dir / 'error.log'} warn;\n"
            "worker_processes 1;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "    access_log off;\n"
            f"{temp_paths}"
            f"{_server_block(f'127.0.0.1:{self.port}', self.upstreams)}"
            "}\n"
        )

    def start(self) -> None:
        (self.base_dir / "temp").mkdir(parents=True, exist_ok=True)
        conf = self.base_dir / "nginx.conf"
        conf.write_text(self._config())
        prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam(_UNPRIVILEGED)
            for path in (self.base_dir, self.base_dir / "temp"):
                os.chown(path, user.pw_uid, user.pw_gid)
            prefix = ["runuser", "-u", _UNPRIVILEGED, "--"]
        argv = [*prefix, _binary(), "-p", str(self.base_dir), "-c", str(conf),
                "-e", str(self.base_dir / "error.log"), "-g", "daemon off;"]  # fmt: skip
        self.server = ServerProcess("nginx", argv, self.base_dir / "stderr.log")
        self.server.start()
        try:
            self.server.wait_http(self.port, "/healthz", timeout=30)
        except BaseException:
            self.stop()
            raise

    def log_tail(self) -> str:
        if self.server is None:
            return ""
        error_log = self.base_dir / "error.log"
        text = error_log.read_text(errors="replace") if error_log.exists() else ""
        return self.server.log_tail() + "\n" + "\n".join(text.splitlines()[-20:])

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        shutil.rmtree(self.base_dir, ignore_errors=True)
