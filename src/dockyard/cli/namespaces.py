"""`dockyard namespace`: the first path component of repository names (`dev`, `prod`, a
team), where roles are granted and an access policy is set for every repository in it."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli.client import AdminClient, segment
from dockyard.cli.options import JsonFlag, Policy, admin_command
from dockyard.cli.output import print_json, print_table, say, when

__all__ = ["app"]

app = typer.Typer(help="Namespaces and their access policies.", no_args_is_help=True)

NamespaceName = Annotated[str, typer.Argument(help="Namespace name, e.g. dev.")]


@app.command("create")
@admin_command
def create(
    client: AdminClient,
    name: NamespaceName,
    policy: Annotated[
        Policy,
        typer.Option(
            help="private: grants only; shared: every signed-in user may pull; "
            "anonymous: anyone may pull."
        ),
    ] = Policy.PRIVATE,
) -> None:
    """Create a namespace; its creator becomes its admin."""
    client.post("/namespaces", {"name": name, "policy": policy.value})
    say(f"Created namespace {name} ({policy.value}).")


@app.command("list")
@admin_command
def list_namespaces(client: AdminClient, json_: JsonFlag = False) -> None:
    """List the namespaces you can see."""
    namespaces = client.get("/namespaces")
    if json_:
        print_json(namespaces)
        return
    print_table(
        ["NAME", "POLICY", "CREATED", "CREATED BY"],
        (
            [n["name"], n.get("policy") or "", when(n.get("created_at")), n.get("created_by") or ""]
            for n in namespaces
        ),
        empty="No namespaces.",
    )


@app.command("policy")
@admin_command
def set_policy(
    client: AdminClient,
    name: NamespaceName,
    policy: Annotated[Policy, typer.Argument(help="private, shared or anonymous.")],
) -> None:
    """Set who may pull from every repository of a namespace (unless one overrides it)."""
    client.patch(f"/namespaces/{segment(name)}", {"policy": policy.value})
    say(f"Namespace {name} is now {policy.value}.")
