"""`dockyard robot`: accounts for automation (CI, deploy jobs), holding only their own
grants, with an expiry. The secret is shown once at creation; the registry keeps a hash."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient, segment
from dockyard.cli.options import JsonFlag, Role, admin_command
from dockyard.cli.output import print_json, print_table, say, show_secret, when

__all__ = ["app"]

app = typer.Typer(help="Robot accounts for automation.", no_args_is_help=True)

RobotName = Annotated[str, typer.Argument(help="Robot name (it signs in as robot$NAME).")]


def _grants(values: list[str]) -> list[str]:
    roles = [r.value for r in Role]
    for value in values:
        role, _, target = value.partition(":")
        if role not in roles or not target:
            raise typer.BadParameter(
                f"{value!r}: expected ROLE:TARGET, e.g. write:dev or read:prod/app "
                f"(ROLE: {', '.join(roles)})",
                param_hint="--grant",
            )
    return values


@app.command("add")
@admin_command
def add(
    client: AdminClient,
    name: Annotated[str, typer.Argument(help="Name of the new robot.")],
    grant: Annotated[
        list[str] | None,
        typer.Option(
            "--grant",
            help="ROLE:TARGET, e.g. write:dev or read:prod/app; repeatable.",
            callback=_grants,
        ),
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="Stop working after this many days.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Create a robot account and print its secret, once."""
    grants = [dict(zip(("role", "on"), g.split(":", 1), strict=True)) for g in grant or []]
    body = {
        "name": name,
        "description": description,
        "grants": grants,
        "expires_in_days": expires_in_days,
    }
    robot = client.post("/robots", body)
    if json_:
        print_json(robot)
        return
    show_secret(
        robot["secret"],
        what=f"robot account {robot.get('username') or name}",
        username=robot.get("username") or f"robot${name}",
        registry=client.registry,
        expires=robot.get("expires_at"),
    )


@app.command("list")
@admin_command
def list_robots(client: AdminClient, json_: JsonFlag = False) -> None:
    """List robot accounts."""
    robots = client.get("/robots")
    if json_:
        print_json(robots)
        return
    print_table(
        ["NAME", "GRANTS", "EXPIRES", "LAST USED", "DESCRIPTION"],
        (_row(r) for r in robots),
        empty="No robot accounts.",
    )


def _row(robot: dict[str, Any]) -> list[str]:
    return [
        robot.get("username") or robot["name"],
        _grant_list(robot.get("grants")),
        _expiry(robot),
        when(robot.get("last_used_at")),
        robot.get("description") or "",
    ]


def _grant_list(grants: list[dict[str, Any]] | None) -> str:
    return ", ".join(f"{g['role']}:{g['on']}" for g in grants or [])


def _expiry(robot: dict[str, Any]) -> str:
    if robot.get("revoked_at"):
        return f"revoked {when(robot['revoked_at'])}"
    return when(robot.get("expires_at")) or "never"


@app.command("revoke")
@admin_command
def revoke(client: AdminClient, name: RobotName) -> None:
    """Revoke a robot account: its secret stops working at once."""
    client.delete(f"/robots/{segment(name.removeprefix('robot$'))}")
    say(f"Revoked robot account {name}.")
