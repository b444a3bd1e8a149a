"""`dockyard serve`: run the registry.

The serving parent process stays small: the database work before serving (migrations, the
first administrator) runs in a short-lived child process, so the parent never imports
SQLAlchemy, Alembic or the app. The workers import what they need themselves.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from dockyard.config import SETTINGS_ENV, Settings, load_settings
from dockyard.draining import GENERATION_FILE, GENERATION_FILE_ENV, write_generation
from dockyard.logs import configure_logging
from dockyard.tls import CertificateReloader, Snapshot, TlsError, TlsSnapshots


def _prepare(settings_json: str, admin_password: str | None) -> None:
    """Migrate the database and create the first administrator (in a child process)."""
    from dockyard.auth.bootstrap import bootstrap_admin
    from dockyard.metadata.db import Database

    settings = Settings(**json.loads(settings_json))
    configure_logging(settings.log_level)
    db = Database(settings.sqlalchemy_url)
    try:
        db.migrate()
        generated = bootstrap_admin(db, admin_password, settings.data_dir)
    finally:
        db.close()
    if generated is not None:
        typer.secho(
            f"Created the initial administrator.\n  user: admin\n  password: {generated}\n"
            f"(also saved, readable only by you, in {settings.data_dir / 'initial-admin-password'};"
            " shown once)",
            fg=typer.colors.YELLOW,
            err=True,
        )


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on \\[default: 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on \\[default: 5000].")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory \\[default: ./data].")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="YAML settings file.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes \\[default: 1].")] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="Serve HTTPS with this PEM certificate chain (needs --tls-key)."),
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
) -> None:
    """Run the registry. Every setting can also come from env DOCKYARD_<NAME>."""
    try:
        settings = load_settings(
            config, host=host, port=port, data_dir=data_dir, workers=workers,
            tls_cert=tls_cert, tls_key=tls_key,
        )  # fmt: skip
    except ValidationError as err:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        typer.secho(f"Invalid settings: {problems}", fg="red", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    reloader = _tls_reloader(settings)  # before the database work: a bad pair fails fast
    resolved = settings.handoff_json()
    secret = settings.admin_password.get_secret_value() if settings.admin_password else None
    child = multiprocessing.get_context("spawn").Process(
        target=_prepare, args=(resolved, secret), name="dockyard-prepare"
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        typer.secho("Could not prepare the database; see the error above.", fg="red", err=True)
        raise typer.Exit(1)
    os.environ[SETTINGS_ENV] = resolved
    # Files of this serving process only (metrics of its workers, its reload generation):
    # never in the data directory, which replicas may share on one volume.
    runtime = Path(tempfile.mkdtemp(prefix="dockyard-serve-"))
    try:
        _run(settings, reloader, runtime)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def _run(settings: Settings, reloader: CertificateReloader | None, runtime: Path) -> None:
    from granian import Granian
    from granian.constants import Interfaces, SSLProtocols
    from granian.http import HTTP1Settings

    if settings.workers > 1:
        # prometheus-client aggregates across worker processes through files.
        metrics_dir = runtime / "metrics"
        metrics_dir.mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    scheme = "https" if reloader else "http"
    typer.echo(
        f"Dockyard listening on {scheme}://{settings.host}:{settings.port} "
        f"(data: {settings.data_dir})",
        err=True,
    )
    tls_options: dict[str, Any] = {}
    if reloader is not None:
        # TLS 1.2 is the floor distribution uses too; Granian's own default is 1.3 only.
        tls_options = {"ssl_cert": reloader.current.cert, "ssl_key": reloader.current.key,
                       "ssl_protocol_min": SSLProtocols.tls12}  # fmt: skip
    server = Granian(
        "dockyard.worker:create_app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        factory=True,
        log_access=False,
        backpressure=None,
        # Larger reads halve the per-chunk cost of receiving blob bodies (measured: a bare
        # body drain went from ~500 to ~630 MB/s with 4 MiB instead of the 408 KiB default).
        http1_settings=HTTP1Settings(max_buffer_size=4 * 1024 * 1024),
        # Granian starts each new worker, waits this long, then stops the old one: a fixed
        # delay, not a readiness check (measured: 3.5 s, its default, was too short on two
        # busy cores and left the port without a listener for a moment).
        respawn_interval=settings.reload_overlap_seconds,
        workers_kill_timeout=settings.stop_timeout_seconds,
        **tls_options,
    )
    generation_file = runtime / GENERATION_FILE
    os.environ[GENERATION_FILE_ENV] = str(generation_file)
    write_generation(generation_file)
    if reloader is not None:

        def use(snapshot: Snapshot) -> None:  # what Granian's constructor did with the files
            server.build_ssl_context(
                snapshot.cert, snapshot.key, None, SSLProtocols.tls12, None, [], False
            )

        reloader.bind(use)
        server.on_startup(reloader.start)  # after Granian installed its SIGHUP handler
        server.on_reload(reloader.on_reload)
        server.on_shutdown(reloader.stop)
    # after the reloader's hook: workers still serving learn they are being replaced
    server.on_reload(lambda: write_generation(generation_file))
    server.serve()


def _tls_reloader(settings: Settings) -> CertificateReloader | None:
    """The reloader of the configured pair, checked now; exits with a clear message if bad."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    snapshots = TlsSnapshots(settings.tls_cert, settings.tls_key, settings.data_dir / "tls")
    try:
        first = snapshots.take()
    except TlsError as err:
        typer.secho(f"Cannot serve HTTPS: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
    snapshots.prune(first)
    typer.echo(f"TLS certificate: {first.description}", err=True)
    return CertificateReloader(snapshots, first, settings.tls_reload_check_seconds)
