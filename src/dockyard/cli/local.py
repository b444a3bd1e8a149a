"""What the commands that work on the data directory itself (backup, restore, doctor) share:
settings read as `dockyard serve` reads them, the blob store they name, and a progress
display on stderr that stays quiet when stderr is not a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from dockyard.cli.client import CliError
from dockyard.config import Settings, load_settings
from dockyard.storage.base import BlobStore
from dockyard.storage.configured import configured_store

__all__ = ["ConfigOption", "DataDirOption", "StepDisplay", "load_local", "open_store", "steps"]

DataDirOption = Annotated[
    Path | None, typer.Option(help="Data directory (blobs; SQLite) \\[default: ./data].")
]
ConfigOption = Annotated[
    Path | None, typer.Option(exists=True, dir_okay=False, help="YAML settings file.")
]


def load_local(config: Path | None, data_dir: Path | None) -> Settings:
    """Settings from the file, env DOCKYARD_* and the options; CliError naming the problem
    (field names and messages only: the values may be secrets)."""
    try:
        return load_settings(config, data_dir=data_dir)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise CliError(f"invalid settings: {problems}") from None
    except (OSError, ValueError) as err:
        raise CliError(f"cannot read settings: {err}") from None


def open_store(settings: Settings) -> BlobStore:
    """The blob store the settings name (the server builds the same one)."""
    if settings.storage_driver == "filesystem" and not settings.data_dir.is_dir():
        raise CliError(
            f"no data directory at {settings.data_dir.resolve()}: pass --data-dir (or set "
            "DOCKYARD_DATA_DIR)"
        )
    return configured_store(settings)


class StepDisplay:
    """Rich progress for named steps: a bar when the total is known, a spinner otherwise."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, step: str, done: int, total: int | None) -> None:
        task = self._tasks.get(step)
        if task is None:
            for other in self._tasks.values():  # a new step: the earlier ones are over
                self._bar.update(other, visible=False)
            task = self._tasks[step] = self._bar.add_task(step, total=total)
        self._bar.update(task, completed=done, total=total)


@contextmanager
def steps() -> Iterator[StepDisplay]:
    console = Console(stderr=True)
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn()]  # fmt: skip
    with Progress(*columns, console=console, disable=not console.is_terminal,
                  transient=True) as bar:  # fmt: skip
        yield StepDisplay(bar)
