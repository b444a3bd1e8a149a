"""`dockyard repo`: repositories, created ahead of their first push when grants must be in
place first, and their access policies (`inherit` follows the namespace's)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient, repository_path
from dockyard.cli.options import JsonFlag, RepositoryPolicy, admin_command
from dockyard.cli.output import print_json, print_table, say, when

__all__ = ["app"]

app = typer.Typer(help="Repositories and their access policies.", no_args_is_help=True)

RepositoryName = Annotated[str, typer.Argument(help="Repository name, e.g. dev/app.")]


@app.command("create")
@admin_command
def create(
    client: AdminClient,
    name: RepositoryName,
    policy: Annotated[
        RepositoryPolicy, typer.Option(help="Who may pull; inherit: the namespace's policy.")
    ] = RepositoryPolicy.INHERIT,
) -> None:
    """Create an empty repository (its namespace too, if new)."""
    client.post("/repositories", {"name": name, "policy": _own(policy)})
    say(f"Created repository {name} ({policy.value}).")


@app.command("list")
@admin_command
def list_repositories(
    client: AdminClient,
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many [default: all].")
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """List the repositories you can see, by name."""
    repositories = list(
        client.pages(
            "/repositories", "repositories", {"namespace": namespace}, cursor="last", limit=limit
        )
    )
    if json_:
        print_json(repositories)
        return
    print_table(
        ["NAME", "POLICY", "CREATED", "LAST PUSH"],
        (_row(r) for r in repositories),
        empty="No repositories.",
    )


def _row(repository: dict[str, Any]) -> list[str]:
    return [
        repository["name"],
        _policy(repository.get("policy"), repository.get("effective_policy")),
        when(repository.get("created_at")),
        when(repository.get("pushed_at")),
    ]


def _own(policy: RepositoryPolicy) -> str | None:
    """The API's repository policy: null follows the namespace's."""
    return None if policy is RepositoryPolicy.INHERIT else policy.value


def _policy(own: str | None, effective: str | None) -> str:
    if own is None and effective:
        return f"{effective} (inherited)"
    return own or effective or ""


@app.command("policy")
@admin_command
def set_policy(
    client: AdminClient,
    name: RepositoryName,
    policy: Annotated[
        RepositoryPolicy,
        typer.Argument(help="private, shared, anonymous, or inherit (the namespace's)."),
    ],
) -> None:
    """Set who may pull from one repository."""
    client.patch(f"/repositories/{repository_path(name)}", {"policy": _own(policy)})
    say(f"Repository {name}: policy {policy.value}.")
