"""`dockyard upstream`: other registries that repositories may sync from (registry admins).
A password never comes from argv (shell history, `ps`): `--password-stdin` reads it, else
a prompt asks when `--username` is given. It is stored encrypted and never shown again."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient, segment
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, when

__all__ = ["app"]

app = typer.Typer(help="Upstream registries to import from.", no_args_is_help=True)


def _password(username: str | None, from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.read().removesuffix("\n").removesuffix("\r") or None
    if username:
        return typer.prompt(f"Password of {username} on the upstream", hide_input=True) or None
    return None


@app.command("add")
@admin_command
def add(
    client: AdminClient,
    name: Annotated[str, typer.Argument(help="Short name of the upstream (`hub`, `partner`).")],
    url: Annotated[str, typer.Argument(help="https://host[:port] (or http://) of the registry.")],
    upstream_username: Annotated[
        str | None,
        typer.Option(
            "--upstream-username",
            help="Sign in to the upstream as this user (--username is who you are here).",
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    upstream_ca_file: Annotated[
        str | None,
        typer.Option(
            "--upstream-ca-file",
            help="CA bundle to trust for the upstream (a path the server can read); "
            "--ca-file is the one this command trusts for Dockyard itself.",
        ),
    ] = None,
    insecure_skip_verify: Annotated[
        bool,
        typer.Option("--insecure-skip-verify", help="Do not check its TLS certificate (unsafe)."),
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Add an upstream registry; its password is stored encrypted."""
    body = {
        "name": name,
        "url": url,
        "username": upstream_username,
        "password": _password(upstream_username, password_stdin),
        "verify_tls": not insecure_skip_verify,
        "ca_file": upstream_ca_file,
    }
    row = client.post("/upstreams", body)
    if json_:
        print_json(row)
        return
    said = f" as {row['username']}" if row["username"] else ""
    unsafe = " WITHOUT checking its TLS certificate" if not row["verify_tls"] else ""
    say(f"Added upstream {name}: {row['url']}{said}{unsafe}.")


def _row(u: dict[str, Any]) -> list[str]:
    return [
        u["name"],
        u["url"],
        u["username"] or "",
        "yes" if u["has_password"] else "no",
        "yes" if u["verify_tls"] else "NO",
        u["ca_file"] or "",
        when(u["created_at"]),
    ]


@app.command("list")
@admin_command
def list_upstreams(client: AdminClient, json_: JsonFlag = False) -> None:
    """List upstream registries (never their passwords)."""
    rows = client.get("/upstreams")
    if json_:
        print_json(rows)
        return
    print_table(
        ["NAME", "URL", "USERNAME", "PASSWORD", "TLS CHECKED", "CA FILE", "ADDED"],
        (_row(u) for u in rows),
        empty="No upstream registries.",
    )


@app.command("remove")
@admin_command
def remove(
    client: AdminClient, name: Annotated[str, typer.Argument(help="The upstream's name.")]
) -> None:
    """Remove an upstream that no sync uses."""
    client.delete(f"/upstreams/{segment(name)}")
    say(f"Removed upstream {name}.")
