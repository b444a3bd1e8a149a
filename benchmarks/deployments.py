"""Registries deployed the way a company runs them: metadata in PostgreSQL and blobs in one
S3-compatible bucket (SeaweedFS), Dockyard as one or more replicas (behind nginx), beside CNCF
distribution v3 on its S3 driver against the same bucket.

Each deployment keeps its own key prefix in the bucket and its own database, and can be
restarted on the same data with blob redirects on or off (`restart(redirect=…)`), which is
the one setting the blob rows compare.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from benchmarks.nginx import Nginx
from benchmarks.procs import ServerProcess, free_port
from benchmarks.registries import Bearer, Credentials, Distribution3, Dockyard
from benchmarks.seaweedfs import SeaweedFS
from benchmarks.tokens import TokenIssuer

__all__ = ["DistributionS3", "DockyardS3"]


class DistributionS3(Distribution3):
    """distribution v3 with `storage.s3`. Token auth throughout (the harness signs the
    tokens, see tokens.py): htpasswd would run bcrypt on every request, which no client
    that pulls with a token pays. `redirect` sets `storage.redirect.disable` (distribution
    redirects blob GETs to a presigned URL unless that is true)."""

    auth_mode = "token"

    def __init__(
        self,
        workdir: Path,
        creds: Credentials,
        issuer: TokenIssuer,
        store: SeaweedFS,
        repositories: list[str],
    ) -> None:
        super().__init__(workdir, creds, issuer)
        self.store = store
        self.redirect = False
        # The admin's token grants push and pull on these (a JWT names each repository).
        self._repositories = repositories

    def unavailable(self) -> str | None:
        if self._binary() is None:
            return f"{self.title}: binary not found; run benchmarks/install.sh"
        return None

    @property
    def admin_authorization(self) -> str:
        access = [(name, ["pull", "push"]) for name in self._repositories]
        return "Bearer " + self.issuer.token(self.creds.admin_user, access)

    def _storage(self) -> dict[str, object]:
        s3 = {
            "accesskey": self.store.access_key,
            "secretkey": self.store.secret_key,
            "region": self.store.region,
            "regionendpoint": self.store.endpoint_url,
            "bucket": self.store.bucket,
            "forcepathstyle": True,
            "secure": False,
            "rootdirectory": "/distribution",
        }
        return {"s3": s3, "redirect": {"disable": not self.redirect}}

    @contextlib.contextmanager
    def reader_bearer(self, repository: str) -> Iterator[Bearer]:
        token = self.issuer.token(self.creds.reader_user, [(repository, ["pull"])])
        yield Bearer(f"Bearer {token}", f"{self.creds.reader_user} (JWT, pull on repo)")

    @contextlib.contextmanager
    def seeding(self) -> Iterator[None]:
        yield  # token auth already

    def restart(self, *, redirect: bool) -> None:
        self.stop()
        self.redirect = redirect
        self.start()

    def components(self) -> dict[str, int]:
        """Process-tree roots whose CPU the report shows, by name."""
        return {"distribution": self.pid}


class DockyardS3(Dockyard):
    """`replicas` Dockyard servers with `workers` Granian workers each, sharing one
    PostgreSQL database and one bucket prefix, each with a data directory of its own (they
    keep nothing there on PostgreSQL + S3). With `behind_nginx`, clients reach them through
    nginx (the README's recipe, round-robin); without, the one replica directly."""

    def __init__(
        self,
        workdir: Path,
        creds: Credentials,
        issuer: TokenIssuer,
        *,
        store: SeaweedFS,
        database_url: str,
        prefix: str,
        replicas: int = 1,
        behind_nginx: bool = False,
    ) -> None:
        super().__init__(workdir, creds, issuer)
        if replicas > 1 and not behind_nginx:
            raise ValueError("several replicas need nginx in front")
        self.store = store
        self.database_url = database_url
        self.prefix = prefix
        self.redirect = False
        self._ports = [free_port() for _ in range(replicas)]
        self._servers: list[ServerProcess] = []
        self._nginx = Nginx([f"127.0.0.1:{p}" for p in self._ports]) if behind_nginx else None
        self._migrated = False

    @property
    def pid(self) -> int:
        if not self._servers:
            raise RuntimeError("Dockyard is not running")
        return self._servers[0].pid

    def _env(self) -> dict[str, str]:
        _, env = self._command()  # the harness's usual settings: admin, logs, workers
        env.update(
            DOCKYARD_DATABASE_URL=self.database_url,
            DOCKYARD_STORAGE_DRIVER="s3",
            DOCKYARD_S3_BUCKET=self.store.bucket,
            DOCKYARD_S3_ENDPOINT_URL=self.store.endpoint_url,
            DOCKYARD_S3_REGION=self.store.region,
            DOCKYARD_S3_ACCESS_KEY=self.store.access_key,
            DOCKYARD_S3_SECRET_KEY=self.store.secret_key,
            DOCKYARD_S3_PREFIX=self.prefix,
            DOCKYARD_S3_REDIRECT=str(self.redirect).lower(),
        )
        if self._nginx is not None:
            env["DOCKYARD_PUBLIC_URL"] = f"http://127.0.0.1:{self._nginx.port}"
            env["DOCKYARD_TRUSTED_PROXIES"] = '["127.0.0.1/32"]'
        return env

    def _migrate(self, env: dict[str, str]) -> None:
        """Migrate once, before any replica starts (they could race for it; not measured)."""
        out = subprocess.run(
            [str(self._binary()), "migrate", "--data-dir", str(self.data_dir)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"dockyard migrate failed: {out.stdout[-500:]}{out.stderr[-500:]}")
        self._migrated = True

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        env = self._env()
        if not self._migrated:
            self._migrate(env)
        try:
            for i, port in enumerate(self._ports):
                data_dir = self.workdir / f"replica-{i}"
                data_dir.mkdir(exist_ok=True)
                argv = [str(self._binary()), "serve", "--host", "127.0.0.1", "--port", str(port),
                        "--data-dir", str(data_dir)]  # fmt: skip
                server = ServerProcess(f"dockyard-{i}", argv, data_dir / "server.log", env=env)
                server.start()
                self._servers.append(server)
            for server, port in zip(self._servers, self._ports, strict=True):
                server.wait_http(port, self.readiness_path)
            if self._nginx is not None and self._nginx.server is None:
                self._nginx.start()
        except BaseException:
            self.stop()
            raise
        self.port = self._nginx.port if self._nginx is not None else self._ports[0]

    def _stop_replicas(self) -> None:
        servers, self._servers = self._servers, []
        with contextlib.ExitStack() as stack:  # every one attempted, even if one fails
            for server in servers:
                stack.callback(server.stop)

    def stop(self) -> None:
        try:
            self._stop_replicas()
        finally:
            if self._nginx is not None:
                self._nginx.stop()

    def restart(self, *, redirect: bool) -> None:
        """The replicas again on the same database and prefix (nginx keeps running)."""
        self._stop_replicas()
        self.redirect = redirect
        self.start()

    def components(self) -> dict[str, int]:
        """Process-tree roots whose CPU the report shows, by name."""
        found = {f"dockyard replica {i + 1}": s.pid for i, s in enumerate(self._servers)}
        if self._nginx is not None:
            found["nginx"] = self._nginx.pid
        return found

    def log_tails(self) -> str:
        parts = [f"--- {s.name}\n{s.log_tail(15)}" for s in self._servers]
        if self._nginx is not None:
            parts.append(f"--- nginx\n{self._nginx.log_tail()}")
        return "\n".join(parts)
