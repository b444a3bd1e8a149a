"""What the access commands print. stdout carries data only (tables, JSON, a new secret), so
scripts can capture it; stderr carries everything said to the person (confirmations, hints,
errors). Names are printed as plain text, never as Rich markup (`[bold]jane` stays as is)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["fail", "print_json", "print_table", "say", "show_secret", "when", "yes_no"]

_out = Console(highlight=False, soft_wrap=False)
_err = Console(stderr=True, highlight=False, soft_wrap=True)  # one message, one line


def say(message: str) -> None:
    """A line for the person (stderr)."""
    _err.print(Text(message))


def fail(message: str) -> NoReturn:
    """One line on stderr, exit status 1."""
    _err.print(Text(f"error: {message}", style="red"))
    raise typer.Exit(1)


def print_json(data: Any) -> None:
    """The API's JSON, unchanged, for scripts."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, empty: str) -> None:
    """A Rich table on stdout, or `empty` on stderr when there are no rows."""
    table = Table(*columns, box=None, header_style="bold", pad_edge=False)
    count = 0
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
        count += 1
    if count == 0:
        say(empty)
        return
    _out.print(table)


def show_secret(secret: str, *, what: str, username: str, registry: str, expires: Any) -> None:
    """A new secret, shown this once: the secret alone on stdout, the rest on stderr."""
    expiry = f", expires {when(expires)}" if expires else ", never expires"
    _err.print(
        Text(f"Created {what}{expiry}. Its secret is shown only this once; store it now:"),
        style="yellow",
    )
    typer.echo(secret)
    _err.print(Text("Sign in with it:", style="yellow"))
    _err.print(Text(f"  docker login {registry} -u '{username}' --password-stdin"))


def when(value: Any) -> str:
    """An API timestamp (ISO 8601 or epoch seconds) as `YYYY-MM-DD HH:MM` UTC; '' for none."""
    if value is None or value == "":
        return ""
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(value, UTC)
        else:
            moment = datetime.fromisoformat(str(value))
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M")


def yes_no(value: Any) -> str:
    return "yes" if value else ""
