"""`dockyard user`: local users, and directory users who have signed in.

Passwords never come from argv (shell history, `ps`): `--password-stdin` reads one from
standard input, else a hidden prompt asks twice.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient, CliError, segment
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, when, yes_no

__all__ = ["MIN_PASSWORD_LENGTH", "app"]

MIN_PASSWORD_LENGTH = 8

app = typer.Typer(
    help="Users: local accounts, and directory users (DIRECTORY\\NAME) who have signed in.",
    no_args_is_help=True,
)

UserName = Annotated[str, typer.Argument(help="User name; DIRECTORY\\NAME for a directory user.")]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from standard input (else: a prompt)."
    ),
]


def _new_password(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    else:
        password = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CliError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return password


@app.command("add")
@admin_command
def add(
    client: AdminClient,
    name: Annotated[str, typer.Argument(help="Name of the new local user.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make a registry admin.")] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a local user."""
    password = _new_password(password_stdin, f"Password for {name}")
    client.post("/users", {"name": name, "password": password, "admin": admin})
    say(f"Created user {name}{' (registry admin)' if admin else ''}.")


@app.command("list")
@admin_command
def list_users(client: AdminClient, json_: JsonFlag = False) -> None:
    """List users."""
    users = client.get("/users")
    if json_:
        print_json(users)
        return
    print_table(
        ["NAME", "SOURCE", "ADMIN", "DISABLED", "DISPLAY NAME", "CREATED", "LAST LOGIN"],
        (_row(u) for u in users),
        empty="No users.",
    )


def _row(user: dict[str, Any]) -> list[str]:
    return [
        user["name"],
        user.get("source") or "",
        yes_no(user.get("admin")),
        yes_no(user.get("disabled")),
        user.get("display_name") or "",
        when(user.get("created_at")),
        when(user.get("last_login_at")),
    ]


@app.command("remove")
@admin_command
def remove(client: AdminClient, name: UserName) -> None:
    """Delete a user, with their grants, group memberships and tokens."""
    client.delete(f"/users/{segment(name)}")
    say(f"Removed user {name}.")


@app.command("passwd")
@admin_command
def passwd(client: AdminClient, name: UserName, password_stdin: PasswordStdin = False) -> None:
    """Set a local user's password."""
    password = _new_password(password_stdin, f"New password for {name}")
    client.put(f"/users/{segment(name)}/password", {"password": password})
    say(f"Changed the password of {name}.")


@app.command("set")
@admin_command
def set_flags(
    client: AdminClient,
    name: UserName,
    admin: Annotated[
        bool | None, typer.Option("--admin/--no-admin", help="Registry admin or not.")
    ] = None,
    disabled: Annotated[
        bool | None,
        typer.Option("--disabled/--enabled", help="A disabled user cannot sign in."),
    ] = None,
) -> None:
    """Make a user a registry admin or not; disable or enable them."""
    changes = {k: v for k, v in (("admin", admin), ("disabled", disabled)) if v is not None}
    if not changes:
        raise typer.BadParameter("give --admin/--no-admin and/or --disabled/--enabled")
    client.patch(f"/users/{segment(name)}", changes)
    described = ", ".join(
        [*(["admin"] if admin else ["not admin"] if admin is False else []),
         *(["disabled"] if disabled else ["enabled"] if disabled is False else [])]
    )  # fmt: skip
    say(f"User {name}: {described}.")
