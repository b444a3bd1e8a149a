"""`dockyard gc`: run garbage collection and watch it (`--dry-run`: only report what would
go; `--verify`: check the store against the database; `--history`: the last runs). It
starts a run through `POST /api/v1/gc/runs`, follows it with a progress bar, then prints
its figures and, for a dry run or a verification, every item it found."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from dockyard.cli.client import AdminClient
from dockyard.cli.deletes import size_text
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, when

__all__ = ["gc"]

_POLL_SECONDS = 0.5
_PAGE = 1000
_FIGURE_NAMES = {
    "manifests_removed": "manifests",
    "links_removed": "repository links",
    "blobs_removed": "blobs",
    "uploads_removed": "upload sessions",
}


def _items(client: AdminClient, run_id: int) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        page = client.get(f"/gc/runs/{run_id}/items", {"after": after, "limit": _PAGE})
        yield from page["items"]
        if page["next_after"] is None:
            return
        after = page["next_after"]


def _follow(client: AdminClient, run: dict[str, Any], queued: int, quiet: bool) -> dict[str, Any]:
    """Poll the run to its end, with a progress bar on stderr unless `quiet`."""
    console = Console(stderr=True)
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    with Progress(
        *columns, MofNCompleteColumn(), console=console, disable=quiet, transient=True
    ) as bar:
        task = bar.add_task("starting", total=max(queued, 1))
        while run["status"] == "running":
            time.sleep(_POLL_SECONDS)
            run = client.get(f"/gc/runs/{run['id']}")
            figures = run["figures"]
            examined = figures.get("manifests_examined", 0) + figures.get("blobs_examined", 0)
            if run["mode"] == "verify":
                examined = figures.get("blobs_checked", 0)
            total = max(queued, examined, 1)
            freed = size_text(figures.get("bytes_freed", 0) + figures.get("upload_bytes_freed", 0))
            bar.update(
                task,
                total=total,
                completed=examined,
                description=f"{run['phase']}: {freed}",
            )
    return run


def _summary(run: dict[str, Any]) -> str:
    figures = run["figures"]
    if run["mode"] == "verify":
        return (
            f"Checked {figures.get('blobs_checked', 0)} blobs: "
            f"{figures.get('orphan_files', 0)} files without a row, "
            f"{figures.get('missing_files', 0)} rows without bytes, "
            f"{figures.get('corrupt_files', 0)} files whose digest is wrong."
        )
    parts = [f"{figures.get(key, 0)} {name}" for key, name in _FIGURE_NAMES.items()]
    freed = figures.get("bytes_freed", 0) + figures.get("upload_bytes_freed", 0)
    verb = "Would remove" if run["mode"] == "dry-run" else "Removed"
    frees = "would free" if run["mode"] == "dry-run" else "freed"
    line = f"{verb} {', '.join(parts)}; {frees} {size_text(freed)}."
    if figures.get("kept_recent"):
        line += f" Kept {figures['kept_recent']} that a client touched within the in-flight window."
    return line


def _history(client: AdminClient, json_: bool) -> None:
    overview = client.get("/gc")
    if json_:
        print_json(overview)
        return
    print_table(
        ["RUN", "MODE", "STATUS", "STARTED", "BY", "REMOVED", "FREED"],
        (
            [
                str(run["id"]),
                run["mode"],
                run["status"],
                when(run["started_at"]),
                run["actor"] or run["trigger"],
                str(run["figures"].get("manifests_removed", 0) + run["figures"].get(
                    "blobs_removed", 0)),
                size_text(run["figures"].get("bytes_freed", 0)
                          + run["figures"].get("upload_bytes_freed", 0)),
            ]
            for run in overview["runs"]
        ),
        empty="No garbage collection has run yet.",
    )  # fmt: skip
    say(
        f"Waiting for review: {overview['queued_manifests']} manifests, "
        f"{overview['queued_blobs']} blobs."
    )


@admin_command
def gc(
    client: AdminClient,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would go, change nothing.")
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check the store against the database: files without rows, rows without "
            "bytes, bytes whose digest is wrong.",
        ),
    ] = False,
    grace: Annotated[
        int | None,
        typer.Option(
            "--grace",
            min=0,
            metavar="SECONDS",
            help="Remove only what became unreachable at least this long ago (default: the "
            "gc_grace_seconds setting).",
        ),
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="Show the last runs and the review queues.")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Garbage collection: remove unreferenced images, blobs and stale uploads."""
    if history:
        _history(client, json_)
        return
    if dry_run and verify:
        raise typer.BadParameter("--dry-run and --verify are separate runs: pick one")
    mode = "verify" if verify else "dry-run" if dry_run else "collect"
    overview = client.get("/gc", {"limit": 1})
    queued = overview["queued_manifests"] + overview["queued_blobs"]
    run = client.post("/gc/runs", {"mode": mode, "grace_seconds": grace})
    run = _follow(client, run, queued, quiet=json_)
    listed = mode != "collect"
    items = list(_items(client, run["id"])) if listed else []
    if json_:
        print_json(run | ({"items": items} if listed else {}))
    else:
        if items:
            print_table(
                ["KIND", "REPOSITORY", "DIGEST", "SIZE", "NOTE"],
                (
                    [i["kind"], i["repository"] or "", i["digest"] or "",
                     size_text(i["size"]), i["note"] or ""]
                    for i in items
                ),
                empty="",
            )  # fmt: skip
        say(f"Run {run['id']} ({mode}) {run['status']}. {_summary(run)}")
    if run["status"] != "done":
        say(f"error: {run['error'] or 'the run did not finish'}")
        raise typer.Exit(1)
