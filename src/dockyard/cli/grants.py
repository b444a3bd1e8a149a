"""`dockyard grant`, `dockyard revoke` and `dockyard grants`: roles on namespaces and
repositories, given to users, groups and robot accounts.

`grant` and `revoke` change; `grants` (plural) lists. They are three top-level commands,
not a `grant` group, so that the common case reads as a sentence:
`dockyard grant write --to user:jane --on dev`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli.client import AdminClient
from dockyard.cli.options import JsonFlag, Role, admin_command
from dockyard.cli.output import print_json, print_table, say, when

__all__ = ["grant", "list_grants", "revoke"]

_KINDS = ("user", "group", "robot")


def _principals(values: list[str]) -> list[str]:
    for value in values:
        kind, _, name = value.partition(":")
        if kind not in _KINDS or not name:
            raise typer.BadParameter(
                f"{value!r}: expected user:NAME, group:NAME or robot:NAME", param_hint="--to"
            )
    return values


To = Annotated[
    list[str],
    typer.Option(
        "--to",
        help="user:NAME, group:NAME or robot:NAME (NAME may be DIRECTORY\\NAME); repeatable.",
        callback=_principals,
    ),
]
On = Annotated[
    str,
    typer.Option(
        "--on",
        help="NAMESPACE or NAMESPACE/REPO; namespace:NAME or repository:NAME to be explicit "
        "(a one-component repository name needs repository:NAME).",
    ),
]


@admin_command
def grant(
    client: AdminClient,
    role: Annotated[Role, typer.Argument(help="read, write or admin.")],
    to: To,
    on: On,
) -> None:
    """Give a role on a namespace or repository (replacing any role held there)."""
    for principal in to:
        client.post("/grants", {"role": role.value, "to": principal, "on": on})
        say(f"Granted {role.value} on {on} to {principal}.")


@admin_command
def revoke(client: AdminClient, to: To, on: On) -> None:
    """Take away the role held on a namespace or repository."""
    for principal in to:
        client.delete("/grants", params={"to": principal, "on": on})
        say(f"Revoked the role of {principal} on {on}.")


@admin_command
def list_grants(
    client: AdminClient,
    on: Annotated[str | None, typer.Option("--on", help="Only on this target.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Only to this principal.")] = None,
    json_: JsonFlag = False,
) -> None:
    """List grants, optionally only on one target or to one principal."""
    params = {k: v for k, v in (("on", on), ("to", to)) if v is not None}
    grants = client.get("/grants", params=params)
    if json_:
        print_json(grants)
        return
    print_table(
        ["TO", "ON", "ROLE", "GRANTED", "BY"],
        (
            [g["to"], g["on"], g["role"], when(g.get("created_at")), g.get("created_by") or ""]
            for g in grants
        ),
        empty="No grants.",
    )
