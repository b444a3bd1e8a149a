"""`dockyard namespace`: the first path component of repository names (`dev`, `prod`, a
team), where roles are granted and an access policy is set for every repository in it, and
`dockyard namespace quota`: its storage quota (registry admins set it)."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli.client import AdminClient, segment
from dockyard.cli.options import JsonFlag, Policy, admin_command
from dockyard.cli.output import print_json, print_table, say, when
from dockyard.cli.usage import quota_text
from dockyard.registry.sizes import parse_size

__all__ = ["app"]

app = typer.Typer(help="Namespaces, their access policies and quotas.", no_args_is_help=True)
quota_app = typer.Typer(
    help="Storage quotas: a push past one is refused (DENIED); deletes always work.",
    no_args_is_help=True,
)
app.add_typer(quota_app, name="quota")

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


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


@quota_app.command("set")
@admin_command
def set_quota(
    client: AdminClient,
    name: NamespaceName,
    size: Annotated[
        str, typer.Argument(help="e.g. 10GiB, 500MiB, 2TB (SI units are powers of 1000).")
    ],
    json_: JsonFlag = False,
) -> None:
    """Set a namespace's storage quota (registry admins): its blobs, each counted once."""
    found = client.put(f"/namespaces/{segment(name)}/quota", {"quota_bytes": _size(size)})
    if json_:
        print_json(found)
        return
    say(f"Namespace {name} now uses {quota_text(found)}.")
    if found["over_quota"]:
        say("It is over its quota: pushes of new content are refused until usage drops.")


@quota_app.command("clear")
@admin_command
def clear_quota(client: AdminClient, name: NamespaceName) -> None:
    """Remove a namespace's storage quota (registry admins)."""
    client.delete(f"/namespaces/{segment(name)}/quota")
    say(f"Namespace {name} has no storage quota now.")


@quota_app.command("show")
@admin_command
def show_quota(client: AdminClient, name: NamespaceName, json_: JsonFlag = False) -> None:
    """A namespace's usage and quota (whoever may see the namespace)."""
    found = client.get(f"/namespaces/{segment(name)}/quota")
    if json_:
        print_json(found)
        return
    typer.echo(f"{name}: {quota_text(found)}")
