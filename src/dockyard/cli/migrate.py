"""`dockyard migrate`: bring the database schema to this version's newest revision.

`dockyard serve` migrates by itself before it serves. This command is for deployments that
migrate once, before any replica starts (a Kubernetes Job run as a Helm hook, a release step),
so that replicas starting together on PostgreSQL find the schema ready.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from dockyard.config import load_settings
from dockyard.logs import configure_logging


def migrate(
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory, for SQLite \\[default: ./data].")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="YAML settings file.")
    ] = None,
) -> None:
    """Migrate the database (DOCKYARD_DATABASE_URL, else SQLite in the data directory)."""
    try:
        settings = load_settings(config, data_dir=data_dir)
    except ValidationError as err:
        # names and messages only: the input values may be secrets
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        typer.secho(f"invalid settings: {problems}", fg="red", err=True)
        raise typer.Exit(1) from None
    except (OSError, ValueError) as err:
        typer.secho(f"cannot read settings: {err}", fg="red", err=True)
        raise typer.Exit(1) from None
    configure_logging(settings.log_level)
    from dockyard.metadata.db import SCHEMA_HEAD, Database

    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url)
    try:
        if db.at_head():
            typer.echo(f"The schema is at revision {SCHEMA_HEAD} already.", err=True)
            return
        db.migrate()
    finally:
        db.close()
    typer.echo(f"Migrated the schema to revision {SCHEMA_HEAD}.", err=True)
