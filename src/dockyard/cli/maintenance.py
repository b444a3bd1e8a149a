"""`dockyard maintenance on|off|status`: read-only maintenance mode. While it is on, pulls,
sign-ins, lists and search work; pushes and deletes are refused with the message. The switch
is stored in the database (`PUT /api/v1/maintenance`): every worker and replica follows it
from its next request, without a restart."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, say, when

__all__ = ["app"]

app = typer.Typer(help="Read-only maintenance mode: pulls work, pushes and deletes are refused.")


def _show(status: dict[str, Any], json_: bool) -> None:
    if json_:
        print_json(status)
        return
    if not status["read_only"]:
        say("Read-write: pushes and deletes are accepted.")
    else:
        say("READ-ONLY: pushes and deletes are refused" +
            (f" with: {status['message']}" if status["message"] else "."))  # fmt: skip
        if status["forced_by_settings"]:
            say("The read_only setting (DOCKYARD_READ_ONLY) holds it on: `maintenance off` "
                "cannot end it; change the setting and restart.")  # fmt: skip
    if status["changed_by"]:
        say(f"Last switched by {status['changed_by']} at {when(status['changed_at'])} UTC.")


@app.command("on")
@admin_command
def on(
    client: AdminClient,
    message: Annotated[
        str | None,
        typer.Option("--message", "-m", help="Told to clients whose push or delete is refused."),
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """Refuse pushes and deletes from now on (every worker, from its next request)."""
    _show(client.put("/maintenance", {"read_only": True, "message": message}), json_)


@app.command("off")
@admin_command
def off(client: AdminClient, json_: JsonFlag = False) -> None:
    """Accept pushes and deletes again."""
    _show(client.put("/maintenance", {"read_only": False}), json_)


@app.command("status")
@admin_command
def status(client: AdminClient, json_: JsonFlag = False) -> None:
    """Whether the registry is read-only, why and since when."""
    _show(client.get("/maintenance"), json_)
