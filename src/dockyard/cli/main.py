"""`dockyard`: the entry point that gathers the command groups."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard import __version__
from dockyard.cli import (
    audit,
    backup,
    deletes,
    doctor,
    gc,
    grants,
    groups,
    immutable,
    maintenance,
    migrate,
    namespaces,
    promote,
    repos,
    retention,
    robots,
    search,
    syncs,
    tags,
    tokens,
    upstreams,
    usage,
    users,
    webhooks,
)
from dockyard.cli.serve import serve

app = typer.Typer(
    name="dockyard",
    help="Dockyard: a self-hosted container image registry with an admin console.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(serve)
app.command("migrate")(migrate.migrate)
app.command("promote")(promote.promote)
app.command("approve")(promote.approve)
app.command("promotions")(promote.promotions)
app.add_typer(users.app, name="user")
app.add_typer(groups.app, name="group")
app.add_typer(namespaces.app, name="namespace")
app.add_typer(namespaces.app, name="namespaces", hidden=True)  # `dockyard namespaces quota …`
app.add_typer(repos.app, name="repo")
app.command("grant")(grants.grant)
app.command("revoke")(grants.revoke)
app.command("grants")(grants.list_grants)
app.add_typer(robots.app, name="robot")
app.add_typer(tokens.app, name="token")
app.command("audit")(audit.audit)
app.command("search")(search.search)
app.command("delete")(deletes.delete)
app.command("undo-delete")(deletes.undo_delete)
app.command("gc")(gc.gc)
app.command("usage")(usage.usage)
app.add_typer(retention.app, name="retention")
app.add_typer(immutable.app, name="immutable")
app.add_typer(tags.app, name="tag")
app.add_typer(maintenance.app, name="maintenance")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(upstreams.app, name="upstream")
app.add_typer(syncs.app, name="sync")
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
app.command("doctor")(doctor.doctor)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dockyard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Dockyard: a self-hosted container image registry with an admin console."""


def main() -> None:
    app()
