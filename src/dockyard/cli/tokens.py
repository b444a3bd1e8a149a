"""`dockyard token`: your personal access tokens, the password for `docker login` so that a
directory password need not sit in a client's config file. Shown once at creation."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient, segment
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, show_secret, when

__all__ = ["app"]

app = typer.Typer(help="Your personal access tokens (for docker login).", no_args_is_help=True)


@app.command("add")
@admin_command
def add(
    client: AdminClient,
    name: Annotated[str, typer.Argument(help="What it is for, e.g. laptop.")],
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="Stop working after this many days.")
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """Create a personal access token and print it, once."""
    token = client.post("/tokens", {"name": name, "expires_in_days": expires_in_days})
    if json_:
        print_json(token)
        return
    me = client.get("/me")
    show_secret(
        token["secret"],
        what=f"personal access token {name!r}",
        username=me["name"],
        registry=client.registry,
        expires=token.get("expires_at"),
    )


@app.command("list")
@admin_command
def list_tokens(client: AdminClient, json_: JsonFlag = False) -> None:
    """List your personal access tokens."""
    tokens = client.get("/tokens")
    if json_:
        print_json(tokens)
        return
    print_table(
        ["ID", "NAME", "CREATED", "EXPIRES", "LAST USED"],
        (_row(t) for t in tokens),
        empty="No personal access tokens.",
    )


def _row(token: dict[str, Any]) -> list[str]:
    return [
        str(token["id"]),
        token["name"],
        when(token.get("created_at")),
        when(token.get("expires_at")) or "never",
        when(token.get("last_used_at")),
    ]


@app.command("revoke")
@admin_command
def revoke(
    client: AdminClient, token_id: Annotated[str, typer.Argument(help="Its ID (token list).")]
) -> None:
    """Revoke a personal access token: it stops working at once."""
    client.delete(f"/tokens/{segment(token_id)}")
    say(f"Revoked personal access token {token_id}.")
