"""What every access command shares: how it connects, and the API's vocabulary as choices.

`@admin_command` gives a command the connection options and hands it a connected
`AdminClient` as its first argument:

    @app.command("list")
    @admin_command
    def list_users(client: AdminClient, json_: JsonFlag = False) -> None: ...

Remote with `--server URL` (env DOCKYARD_SERVER) and a token from env DOCKYARD_TOKEN or
`--token-file` (or `--username`, prompting for the password, to create a first token);
otherwise local, on `--data-dir` / `--config` / env DOCKYARD_* as `dockyard serve` reads them.
A `CliError` from the command ends it with one line on stderr and exit status 1.
"""

from __future__ import annotations

import functools
import getpass
import inspect
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Concatenate, ParamSpec

import typer
from pydantic import ValidationError

from dockyard.cli.client import AdminClient, CliError, local_client, remote_client
from dockyard.cli.output import fail

__all__ = ["JsonFlag", "Policy", "RepositoryPolicy", "Role", "admin_command", "connect"]

P = ParamSpec("P")
_PANEL = "Connection"

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON (for scripts).")]


class Role(StrEnum):
    READ = "read"
    """Pull, and see it in lists and the catalog."""
    WRITE = "write"
    """Read, and push."""
    ADMIN = "admin"
    """Write, delete, and manage its grants and policy."""


class Policy(StrEnum):
    PRIVATE = "private"
    """Only grants give access."""
    SHARED = "shared"
    """Every signed-in user may pull."""
    ANONYMOUS = "anonymous"
    """Anyone may pull, without credentials."""


class RepositoryPolicy(StrEnum):
    INHERIT = "inherit"
    """The namespace's policy applies."""
    PRIVATE = "private"
    SHARED = "shared"
    ANONYMOUS = "anonymous"


def connect(
    *,
    server: str | None,
    token_file: Path | None,
    ca_file: Path | None,
    username: str | None,
    data_dir: Path | None,
    config: Path | None,
) -> AdminClient:
    """A client for the given connection options (see the module docstring)."""
    if server is None:
        for name, value in (("--token-file", token_file), ("--ca-file", ca_file),
                            ("--username", username)):  # fmt: skip
            if value is not None:
                raise typer.BadParameter(f"{name} needs --server (or DOCKYARD_SERVER)")
        from dockyard.config import load_settings

        try:
            settings = load_settings(config, data_dir=data_dir)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
            )
            raise CliError(f"invalid settings: {problems}") from None
        except (OSError, ValueError) as err:
            raise CliError(f"cannot read settings: {err}") from None
        return local_client(settings)
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as err:
            raise CliError(f"cannot read the token file: {err}") from None
        return remote_client(server, token=_nonempty(token, str(token_file)), ca_file=ca_file)
    from_env = os.environ.get("DOCKYARD_TOKEN")
    if from_env is not None:
        return remote_client(
            server, token=_nonempty(from_env.strip(), "DOCKYARD_TOKEN"), ca_file=ca_file
        )
    if username is not None:
        return remote_client(server, basic=(username, _password(username)), ca_file=ca_file)
    raise CliError(
        "no credentials for the server: set DOCKYARD_TOKEN or --token-file to a personal "
        "access token or robot secret (or use --username to sign in with a password)"
    )


def _password(username: str) -> str:
    # Prompted on stderr: stdout carries only data, such as the token this may create.
    try:
        return getpass.getpass(f"Password for {username}: ", stream=sys.stderr)
    except EOFError:
        raise CliError(f"no password given for {username}") from None


def _nonempty(token: str, source: str) -> str:
    if not token:
        raise CliError(f"{source} is empty")
    return token


def admin_command(fn: Callable[Concatenate[AdminClient, P], None]) -> Callable[P, None]:
    """Add the connection options to a command and pass it a connected client."""
    own = inspect.signature(fn, eval_str=True)

    @functools.wraps(fn)
    def command(*args: P.args, **kwargs: P.kwargs) -> None:
        options: dict[str, Any] = {name: kwargs.pop(name) for name in _CONNECTION.parameters}
        try:
            with connect(**options) as client:
                fn(client, *args, **kwargs)
        except CliError as err:
            fail(err.message)

    # Typer reads the parameters from the signature: the command's own, minus the client,
    # plus the connection options.
    parameters = [*list(own.parameters.values())[1:], *_CONNECTION.parameters.values()]
    command.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    return command


def _connection_options(
    *,
    server: Annotated[
        str | None,
        typer.Option(
            envvar="DOCKYARD_SERVER",
            help="Manage the registry at this URL through its API (else: the local data "
            "directory). Token from env DOCKYARD_TOKEN or --token-file.",
            rich_help_panel=_PANEL,
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            help="File holding a personal access token or robot secret (remote).",
            rich_help_panel=_PANEL,
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            help="CA bundle (PEM) to verify the server with (remote).",
            rich_help_panel=_PANEL,
        ),
    ] = None,
    username: Annotated[
        str | None,
        typer.Option(
            help="Sign in with this user's password, prompted (remote; to create a first token).",
            rich_help_panel=_PANEL,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Data directory (local; default ./data).", rich_help_panel=_PANEL),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="YAML settings file (local).",
            rich_help_panel=_PANEL,
        ),
    ] = None,
) -> None:
    """Only its signature is used: the connection options every access command takes."""


_CONNECTION = inspect.signature(_connection_options, eval_str=True)
