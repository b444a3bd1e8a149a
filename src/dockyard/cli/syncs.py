"""`dockyard sync`: repositories that follow a repository of an upstream registry, all its
tags or chosen ones, on demand (`sync run`) and every `--every` minutes."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient, repository_path
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, when

__all__ = ["app"]

app = typer.Typer(help="Repositories that sync from upstream registries.", no_args_is_help=True)

LocalRepository = Annotated[str, typer.Argument(help="The local repository.")]


@app.command("add")
@admin_command
def add(
    client: AdminClient,
    repository: LocalRepository,
    source: Annotated[
        str, typer.Option("--from", help="UPSTREAM/REPOSITORY to follow (`hub/library/alpine`).")
    ],
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="A tag or glob (`1.*`) to import; repeatable (default: all)."),
    ] = None,
    every: Annotated[
        int, typer.Option("--every", min=0, help="Run every MINUTES (default 0: on demand only).")
    ] = 0,
    json_: JsonFlag = False,
) -> None:
    """Make a local repository follow an upstream repository."""
    body = {"repository": repository, "source": source, "tags": tag or [], "every_minutes": every}
    row = client.post("/syncs", body)
    if json_:
        print_json(row)
        return
    tags = ", ".join(row["tags"]) or "all tags"
    schedule = f"every {every} minutes" if every else "on demand (`dockyard sync run`)"
    say(f"{repository} follows {source} ({tags}), {schedule}.")


def _row(s: dict[str, Any]) -> list[str]:
    every = f"{s['every_minutes']} min" if s["every_minutes"] else "on demand"
    return [
        s["repository"], f"{s['upstream']}/{s['upstream_repository']}",
        ",".join(s["tags"]) or "*", every, when(s["last_run_at"]), s["last_status"] or "never",
        str(s["last_imported"]) if s["last_imported"] is not None else "",
        (s["last_error"] or "")[:80],
    ]  # fmt: skip


@app.command("list")
@admin_command
def list_syncs(client: AdminClient, json_: JsonFlag = False) -> None:
    """List the syncs of the repositories you may read, with their last run."""
    rows = client.get("/syncs")
    if json_:
        print_json(rows)
        return
    print_table(
        ["REPOSITORY", "FROM", "TAGS", "EVERY", "LAST RUN", "STATUS", "IMPORTED", "LAST ERROR"],
        (_row(s) for s in rows),
        empty="No syncs.",
    )


@app.command("run")
@admin_command
def run(client: AdminClient, repository: LocalRepository, json_: JsonFlag = False) -> None:
    """Run a sync now: imports the chosen tags whose upstream digest changed."""
    result = client.post(f"/syncs/{repository_path(repository)}/run", None)
    if json_:
        print_json(result)
        return
    done = result["imported"] + result["unchanged"]
    say(
        f"Synced {repository}: {done}/{result['tags_total']} tags done ({result['imported']} "
        f"imported, {result['unchanged']} unchanged, {len(result['errors'])} failed)."
    )
    for error in result["errors"]:
        say(f"  {error}")
    if result["status"] != "ok":
        raise typer.Exit(1)


@app.command("remove")
@admin_command
def remove(client: AdminClient, repository: LocalRepository) -> None:
    """Stop following the upstream; what was imported stays."""
    client.delete(f"/syncs/{repository_path(repository)}")
    say(f"{repository} no longer syncs.")
