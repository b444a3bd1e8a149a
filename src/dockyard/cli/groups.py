"""`dockyard group`: local groups (members from any identity source) and directory groups."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient, segment
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, when

__all__ = ["app"]

app = typer.Typer(help="Groups: local groups, and directory groups.", no_args_is_help=True)

GroupName = Annotated[str, typer.Argument(help="Group name; DIRECTORY\\NAME for a directory one.")]
Members = Annotated[
    list[str], typer.Argument(help="User names (DIRECTORY\\NAME for directory users).")
]


@app.command("add")
@admin_command
def add(client: AdminClient, name: Annotated[str, typer.Argument(help="New group.")]) -> None:
    """Create a local group."""
    client.post("/groups", {"name": name})
    say(f"Created group {name}.")


@app.command("list")
@admin_command
def list_groups(
    client: AdminClient,
    members: Annotated[bool, typer.Option("--members", help="Show each group's members.")] = False,
    json_: JsonFlag = False,
) -> None:
    """List groups."""
    groups: list[dict[str, Any]] = client.get("/groups")
    if members:
        groups = [client.get(f"/groups/{segment(_ref(g))}") for g in groups]
    if json_:
        print_json(groups)
        return
    columns = ["NAME", "SOURCE", "MEMBERS" if members else "MEMBER COUNT", "CREATED"]
    print_table(
        columns,
        (
            [g["name"], g.get("source") or "", _members(g, members), when(g.get("created_at"))]
            for g in groups
        ),
        empty="No groups.",
    )


def _ref(group: dict[str, Any]) -> str:
    """As people write it: `qa`, `hackershop\\qa`."""
    source = group.get("source")
    return group["name"] if source in (None, "local") else f"{source}\\{group['name']}"


def _members(group: dict[str, Any], names: bool) -> str:
    if names:
        # user references: `greg`, `hackershop\greg`
        return ", ".join(m.removeprefix("user:") for m in group.get("members") or [])
    count = group.get("member_count")
    return "" if count is None else str(count)


@app.command("remove")
@admin_command
def remove(client: AdminClient, name: GroupName) -> None:
    """Delete a group and its grants (its members stay)."""
    client.delete(f"/groups/{segment(name)}")
    say(f"Removed group {name}.")


@app.command("add-member")
@admin_command
def add_member(client: AdminClient, group: GroupName, users: Members) -> None:
    """Add users to a local group."""
    for user in users:
        client.put(f"/groups/{segment(group)}/members/{segment(user)}")
        say(f"Added {user} to {group}.")


@app.command("remove-member")
@admin_command
def remove_member(client: AdminClient, group: GroupName, users: Members) -> None:
    """Remove users from a local group."""
    for user in users:
        client.delete(f"/groups/{segment(group)}/members/{segment(user)}")
        say(f"Removed {user} from {group}.")
