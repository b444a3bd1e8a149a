"""`dockyard doctor`: check the configuration, the database (reachable, its schema
revision), the blob store (writable, consistent with the database, free space), stale
upload sessions and read-only mode, one line each, then a verdict. Exit status 0 when
nothing failed (warnings allowed), 1 otherwise. Works on the data directory and database
as `dockyard serve` would open them; safe beside a running server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from dockyard.cli.client import CliError
from dockyard.cli.local import ConfigOption, DataDirOption, load_local, open_store
from dockyard.cli.options import JsonFlag
from dockyard.cli.output import print_json

__all__ = ["doctor"]

_CONNECT_TIMEOUT_SECONDS = "10"
_STYLES = {"ok": "green", "warn": "yellow", "FAIL": "bold red"}


def doctor(
    deep: Annotated[
        bool,
        typer.Option("--deep", help="Also hash every stored blob (reads all the bytes)."),
    ] = False,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    json_: JsonFlag = False,
) -> None:
    """Check that this registry is healthy: configuration, database, schema, store."""
    from dockyard.registry.doctor import Check, Status, diagnose

    # An unreachable PostgreSQL host must not hang the check for minutes (libpq reads it).
    os.environ.setdefault("PGCONNECT_TIMEOUT", _CONNECT_TIMEOUT_SECONDS)
    checks: list[Check] = []
    try:
        settings = load_local(config, data_dir)
    except CliError as err:
        checks.append(Check("settings", Status.FAIL, err.message))
    else:
        checks.append(Check("settings", Status.OK, _sources(config)))
        checks.extend(diagnose(settings, lambda: open_store(settings), hash_bytes=deep))
    failed = [c.name for c in checks if c.status is Status.FAIL]
    warned = [c.name for c in checks if c.status is Status.WARN]
    if failed:
        verdict = f"NOT healthy: {len(failed)} failed ({', '.join(failed)})"
    elif warned:
        verdict = f"healthy, with {len(warned)} warnings ({', '.join(warned)})"
    else:
        verdict = "healthy"
    if json_:
        print_json(
            {
                "healthy": not failed,
                "verdict": verdict,
                "checks": [
                    {
                        "name": c.name,
                        "status": str(c.status),
                        "detail": c.detail,
                        "items": list(c.items),
                    }
                    for c in checks
                ],
            }
        )
    else:
        out = Console(highlight=False, soft_wrap=True)
        width = max(len(c.name) for c in checks)
        for check in checks:
            line = Text(f"{check.status!s:<5}", style=_STYLES[str(check.status)])
            line.append(f" {check.name:<{width}}  {check.detail}")
            out.print(line)
            if len(check.items) > 1:  # one is named in the detail already
                for item in check.items:
                    out.print(Text(f"{'':<{width + 8}}{item}"))
        out.print(Text(f"Verdict: {verdict}.", style="bold red" if failed else "bold"))
    if failed:
        raise typer.Exit(1)


def _sources(config: Path | None) -> str:
    """Where the settings came from: the file, and the names (never values) of the env."""
    names = sorted(k for k in os.environ if k.startswith("DOCKYARD_"))
    parts = [f"file {config}"] if config is not None else []
    if names:
        parts.append("env " + ", ".join(names))
    return "loaded from " + ("; ".join(parts) if parts else "defaults only")
