"""The registries under test: how each is configured, started with auth on, and stopped.

Every registry gets its own free loopback port and its own data directory, access logs off and
log level at warning or below, so no one pays for logging the others skip.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from benchmarks.oci import Client
from benchmarks.procs import ServerProcess, free_port
from benchmarks.tokens import TokenIssuer

__all__ = ["REGISTRIES", "Bearer", "Credentials", "Dockyard", "Registry", "run_text"]

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_BIN = REPO_ROOT / ".cache" / "bin"


@dataclass(frozen=True, slots=True)
class Credentials:
    """The registry-wide admin and an ordinary user (the one measured with a Bearer token)."""

    admin_user: str = "admin"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    reader_user: str = "reader"
    reader_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    reader_group: str = "bench-readers"


@dataclass(frozen=True, slots=True)
class Bearer:
    """An Authorization header value and who it speaks for (shown in the report)."""

    authorization: str
    who: str


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def run_text(argv: list[str]) -> str:
    """First line of a command's output, with the binary's directory left out."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        return f"unknown ({exc})"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].replace(argv[0], Path(argv[0]).name) if lines else ""


def _htpasswd(directory: Path, creds: Credentials) -> Path:
    """An htpasswd file (bcrypt, as `htpasswd -Bbn` makes it) for the admin and the reader."""
    path = directory / "htpasswd"
    if not path.exists():
        lines = [
            subprocess.run(
                ["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True
            ).stdout.strip()
            for user, password in (
                (creds.admin_user, creds.admin_password),
                (creds.reader_user, creds.reader_password),
            )
        ]
        path.write_text("\n".join(lines) + "\n")
    return path


class Registry(ABC):
    """One registry server. `start()` brings it up with Basic auth; `stop()` always works."""

    key: ClassVar[str]
    title: ClassVar[str]
    readiness_path: ClassVar[str] = "/v2/"

    def __init__(self, workdir: Path, creds: Credentials, issuer: TokenIssuer) -> None:
        self.workdir = workdir / self.key
        self.data_dir = self.workdir / "data"
        self.creds = creds
        self.issuer = issuer
        self.port = 0
        self.server: ServerProcess | None = None
        self._version: str | None = None

    @abstractmethod
    def unavailable(self) -> str | None:
        """Why this registry cannot run here, or None."""

    def version(self) -> str:
        """The version, read once: the first call is before the server starts, so a
        checkout that changes during a long run is reported as it was measured."""
        if self._version is None:
            self._version = self._read_version()
        return self._version

    @abstractmethod
    def _read_version(self) -> str: ...

    @abstractmethod
    def _command(self) -> tuple[list[str], dict[str, str]]:
        """argv and environment for the current auth mode."""

    @property
    def pid(self) -> int:
        if self.server is None:
            raise RuntimeError(f"{self.key} is not running")
        return self.server.pid

    @property
    def admin_authorization(self) -> str:
        return basic(self.creds.admin_user, self.creds.admin_password)

    def client(self, authorization: str | None = None) -> Client:
        return Client(self.port, authorization or self.admin_authorization)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        if not self.port:
            self.port = free_port()
        argv, env = self._command()
        self.server = ServerProcess(self.key, argv, self.workdir / "server.log", env=env)
        self.server.start()
        try:
            self.server.wait_http(self.port, self.readiness_path)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def remove_data(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    @abstractmethod
    def reader_bearer(self, repository: str) -> contextlib.AbstractContextManager[Bearer]:
        """A pull token for the ordinary user on `repository`, valid inside the context."""

    @contextlib.contextmanager
    def seeding(self) -> Iterator[None]:
        """Inside this context the registry is being filled with test data."""
        yield

    def seed_authorization(self, repositories: list[str]) -> str:
        """The Authorization header for seeding pushes into `repositories`."""
        return self.admin_authorization


class _Distribution(Registry):
    """CNCF distribution: htpasswd (bcrypt) for Basic; token auth for the Bearer rows."""

    auth_mode = "htpasswd"

    @abstractmethod
    def _binary(self) -> Path | None: ...

    def unavailable(self) -> str | None:
        if self._binary() is None:
            return f"{self.title}: binary not found; run benchmarks/install.sh"
        if shutil.which("htpasswd") is None:
            return "htpasswd not found (apache2-utils); run benchmarks/install.sh"
        return None

    def _read_version(self) -> str:
        binary = self._binary()
        return run_text([str(binary), "--version"]) if binary else "not installed"

    def _storage(self) -> dict[str, object]:
        """The storage driver's section of the config."""
        return {"filesystem": {"rootdirectory": str(self.data_dir)}}

    def _config(self) -> Path:
        if self.auth_mode == "htpasswd":
            auth: dict[str, object] = {
                "htpasswd": {
                    "realm": "dockyard-bench",
                    "path": str(_htpasswd(self.workdir, self.creds)),
                }
            }
        else:
            auth = {
                "token": {
                    # Never contacted: the harness mints tokens itself (see tokens.py).
                    "realm": "http://127.0.0.1:9/token",
                    "service": self.issuer.service,
                    "issuer": self.issuer.issuer,
                    "rootcertbundle": str(self.issuer.write_bundle(self.workdir / "token.pem")),
                }
            }
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {
                **self._storage(),
                "delete": {"enabled": True},
                "cache": {"blobdescriptor": "inmemory"},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": f"127.0.0.1:{self.port}", "secret": secrets.token_hex(16)},
            "auth": auth,
        }
        path = self.workdir / f"config-{self.auth_mode}.yml"
        # JSON is valid YAML, and these configs need nothing JSON cannot say.
        path.write_text(json.dumps(config, indent=2))
        return path

    def _command(self) -> tuple[list[str], dict[str, str]]:
        binary = self._binary()
        if binary is None:
            raise RuntimeError(self.unavailable())
        env = dict(os.environ)
        # Keep the registry from reading config from the environment by accident.
        for name in list(env):
            if name.startswith("REGISTRY_"):
                del env[name]
        return [str(binary), "serve", str(self._config())], env

    @contextlib.contextmanager
    def _token_mode(self) -> Iterator[None]:
        """Restart on the same data with `auth.token`; back to htpasswd on the way out."""
        self.stop()
        self.auth_mode = "token"
        try:
            self.start()
            yield
        except Exception:
            self._back_to_htpasswd()
            raise
        except BaseException:
            # Interrupted: the caller is about to stop everything; no restart.
            self.stop()
            self.auth_mode = "htpasswd"
            raise
        self._back_to_htpasswd()

    def _back_to_htpasswd(self) -> None:
        self.stop()
        self.auth_mode = "htpasswd"
        self.start()

    @contextlib.contextmanager
    def reader_bearer(self, repository: str) -> Iterator[Bearer]:
        with self._token_mode():
            token = self.issuer.token(self.creds.reader_user, [(repository, ["pull"])])
            yield Bearer(f"Bearer {token}", f"{self.creds.reader_user} (JWT, pull on repo)")

    @contextlib.contextmanager
    def seeding(self) -> Iterator[None]:
        # htpasswd runs bcrypt on every request (~3 ms of CPU here): seeding 10,000
        # repositories that way would take minutes. Seed with tokens, as Docker clients would.
        with self._token_mode():
            yield

    def seed_authorization(self, repositories: list[str]) -> str:
        if self.auth_mode != "token":
            return self.admin_authorization
        access = [(name, ["pull", "push"]) for name in repositories]
        return "Bearer " + self.issuer.token(self.creds.admin_user, access)


class Distribution2(_Distribution):
    key = "distribution-2.8"
    title = "distribution 2.8 (Debian)"

    def _binary(self) -> Path | None:
        found = shutil.which("docker-registry")
        return Path(found) if found else None


class Distribution3(_Distribution):
    key = "distribution-3"
    title = "distribution v3"

    def _binary(self) -> Path | None:
        path = CACHE_BIN / "registry"
        return path if path.is_file() else None


class Zot(Registry):
    """zot, when benchmarks/install.sh managed to build it (htpasswd auth, Basic only)."""

    key = "zot"
    title = "zot"

    def _binary(self) -> Path | None:
        path = CACHE_BIN / "zot"
        return path if path.is_file() else None

    def unavailable(self) -> str | None:
        if self._binary() is not None:
            return None
        failed = CACHE_BIN / "zot.build-failed"
        if not failed.is_file():
            return "zot not built; run benchmarks/install.sh"
        log = failed.read_text()
        if "403 Forbidden" in log or "410 Gone" in log:
            return (
                "zot did not build: the Go module proxy refuses zot's modules here "
                "(`go install zotregistry.dev/zot/v2/cmd/zot@latest` and "
                "`zotregistry.dev/zot/cmd/zot@latest` both answer 403 Forbidden)"
            )
        if "exit 124" in log:
            return "zot did not build within the time limit of benchmarks/install.sh"
        # Keep hosts and URLs out of the report.
        last = re.sub(r"https?://\S+", "<url>", log.strip().splitlines()[-1])
        return f"zot did not build: {last[:200]}"

    def _read_version(self) -> str:
        binary = self._binary()
        return run_text([str(binary), "--version"]) if binary else "not installed"

    def _command(self) -> tuple[list[str], dict[str, str]]:
        htpasswd = _htpasswd(self.workdir, self.creds)
        config = {
            "distSpecVersion": "1.1.0",
            "storage": {"rootDirectory": str(self.data_dir), "gc": False, "dedupe": False},
            "http": {
                "address": "127.0.0.1",
                "port": str(self.port),
                "auth": {"htpasswd": {"path": str(htpasswd)}},
            },
            "log": {"level": "error"},
        }
        path = self.workdir / "config.json"
        path.write_text(json.dumps(config, indent=2))
        binary = self._binary()
        if binary is None:
            raise RuntimeError(self.unavailable())
        return [str(binary), "serve", str(path)], dict(os.environ)

    @contextlib.contextmanager
    def reader_bearer(self, repository: str) -> Iterator[Bearer]:
        raise RuntimeError("zot is run with htpasswd only; no Bearer rows")
        yield  # pragma: no cover


class Dockyard(Registry):
    key = "dockyard"
    title = "Dockyard"
    readiness_path = "/healthz"
    workers: int | None = None

    def _binary(self) -> Path:
        return REPO_ROOT / ".venv" / "bin" / "dockyard"

    def unavailable(self) -> str | None:
        if not self._binary().is_file():
            return "Dockyard not installed: run `.venv/bin/pip install -e .`"
        return None

    def _read_version(self) -> str:
        python = REPO_ROOT / ".venv" / "bin" / "python"
        script = (
            "import importlib.metadata as m\n"
            "print('dockyard', m.version('dockyard'), '/ granian', m.version('granian'))"
        )
        text = run_text([str(python), "-c", script])
        commit = run_text(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])
        if commit and all(c in "0123456789abcdef" for c in commit):
            text += f" (commit {commit})"
        return text

    def _command(self) -> tuple[list[str], dict[str, str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        env.update(
            DOCKYARD_ADMIN_PASSWORD=self.creds.admin_password,
            DOCKYARD_ACCESS_LOG="false",
            DOCKYARD_LOG_LEVEL="warning",
        )
        if self.workers:
            env["DOCKYARD_WORKERS"] = str(self.workers)
        argv = [
            str(self._binary()),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        return argv, env

    def _create_reader(self, repository: str) -> str | None:
        """Create the ordinary user, a group holding it and a read grant for the group on the
        repository's namespace, through the admin API. Returns why not, or None on success."""
        namespace = repository.split("/", 1)[0]
        c = self.client()
        steps: list[tuple[str, str, dict[str, object] | None]] = [
            (
                "POST",
                "/api/v1/users",
                {"name": self.creds.reader_user, "password": self.creds.reader_password},
            ),
            ("POST", "/api/v1/groups", {"name": self.creds.reader_group}),
            (
                "PUT",
                f"/api/v1/groups/{self.creds.reader_group}/members/{self.creds.reader_user}",
                None,
            ),
            ("POST", "/api/v1/namespaces", {"name": namespace, "policy": "private"}),
            (
                "POST",
                "/api/v1/grants",
                {"role": "read", "to": f"group:{self.creds.reader_group}", "on": namespace},
            ),
        ]
        try:
            for method, path, payload in steps:
                body = json.dumps(payload).encode() if payload is not None else b""
                resp = c.request(method, path, {"Content-Type": "application/json"}, body)
                if resp.status not in (200, 201, 204, 409):
                    return f"{method} {path} answered {resp.status}"
        finally:
            c.close()
        return None

    def _token(self, user: str, password: str, repository: str) -> str | None:
        c = Client(self.port, basic(user, password))
        try:
            resp = c.request(
                "GET", f"/auth/token?service=dockyard&scope=repository:{repository}:pull"
            )
        finally:
            c.close()
        if resp.status != 200:
            return None
        body = json.loads(resp.body)
        token = body.get("token") or body.get("access_token")
        return str(token) if token else None

    @contextlib.contextmanager
    def reader_bearer(self, repository: str) -> Iterator[Bearer]:
        why_not = self._create_reader(repository)
        if why_not is None:
            token = self._token(self.creds.reader_user, self.creds.reader_password, repository)
            if token:
                yield Bearer(f"Bearer {token}", f"{self.creds.reader_user} (group grant, read)")
                return
            why_not = "token endpoint refused the ordinary user"
        # No way (yet) to make an ordinary user: measure the token path as the admin.
        token = self._token(self.creds.admin_user, self.creds.admin_password, repository)
        if not token:
            raise RuntimeError("Dockyard's /auth/token gave no token to the admin either")
        yield Bearer(f"Bearer {token}", f"admin (ordinary user not possible: {why_not})")


REGISTRIES: dict[str, type[Registry]] = {
    cls.key: cls for cls in (Dockyard, Distribution2, Distribution3, Zot)
}
