"""`dockyard immutable`: rules that make tags of a namespace or repository immutable (no
push moves them, no delete removes them): `add`, `list`, `remove`. A TARGET with a `/` is
a repository, else a namespace."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli.client import AdminClient
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, when

__all__ = ["app"]

app = typer.Typer(help="Immutable tag rules: tags no push moves and no delete removes.",
                  no_args_is_help=True)  # fmt: skip


@app.command("add")
@admin_command
def add_rule(
    client: AdminClient,
    target: Annotated[str, typer.Argument(help="A namespace (`prod`) or a repository.")],
    pattern: Annotated[
        str, typer.Option("--pattern", "-p", help="Only tags matching this glob (`v*`).")
    ] = "*",
    json_: JsonFlag = False,
) -> None:
    """Make the target's tags (those matching the pattern) immutable."""
    scope = "repository" if "/" in target else "namespace"
    rule = client.post(
        "/immutable-tag-rules", {"scope": scope, "target": target, "pattern": pattern}
    )
    if json_:
        print_json(rule)
        return
    say(f"Rule #{rule['id']}: tags {rule['pattern']} in {rule['scope']} {rule['target']} "
        "are immutable.")  # fmt: skip


@app.command("list")
@admin_command
def list_rules(client: AdminClient, json_: JsonFlag = False) -> None:
    """Every immutable tag rule."""
    rules = client.get("/immutable-tag-rules")
    if json_:
        print_json(rules)
        return
    print_table(
        ["ID", "SCOPE", "TARGET", "TAGS", "ADDED", "BY"],
        ([str(r["id"]), r["scope"], r["target"], r["pattern"], when(r["created_at"]),
          r["created_by"] or ""] for r in rules),
        empty="No immutable tag rules.",
    )  # fmt: skip


@app.command("remove")
@admin_command
def remove_rule(
    client: AdminClient, rule_id: Annotated[int, typer.Argument(help="The rule's id.")]
) -> None:
    """Lift a rule (registry admins)."""
    rule = client.delete(f"/immutable-tag-rules/{rule_id}")
    say(f"Rule #{rule_id} lifted: tags {rule['pattern']} in {rule['target']} may move again.")
