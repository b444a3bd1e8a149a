"""`dockyard tag`: a tag's history (`history`), its time machine (`revert`: point it
back at a digest it pointed to before), and tags that follow tags (`follow`, `unfollow`)."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli.client import AdminClient
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, when

__all__ = ["app"]

app = typer.Typer(help="A tag's history, and reverting it.", no_args_is_help=True)

TagRef = Annotated[str, typer.Argument(help="REPOSITORY:TAG.")]


def _split(ref: str) -> tuple[str, str]:
    repository, sep, tag = ref.rpartition(":")
    if not sep or not repository or "/" in tag:
        raise typer.BadParameter(f"{ref!r}: expected REPOSITORY:TAG")
    return repository, tag


@app.command()
@admin_command
def history(client: AdminClient, ref: TagRef, json_: JsonFlag = False) -> None:
    """Every digest the tag pointed to, newest first."""
    repository, tag = _split(ref)
    detail = client.get("/tags/history", params={"repository": repository, "tag": tag})
    if json_:
        print_json(detail)
        return
    print_table(
        ["WHEN", "WHAT", "DIGEST", "BY"],
        ([when(e["at"]), e["action"], e["digest"], e["actor"] or ""] for e in detail["history"]),
        empty="No history recorded.",
    )


@app.command()
@admin_command
def revert(
    client: AdminClient,
    ref: TagRef,
    digest: Annotated[str, typer.Argument(help="A digest from the tag's history.")],
    override_immutable: Annotated[
        bool, typer.Option("--override-immutable", help="Registry admins: an immutable tag.")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Point the tag back at an earlier digest (recorded in its history)."""
    repository, tag = _split(ref)
    body = {"repository": repository, "tag": tag, "digest": digest,
            "override_immutable": override_immutable}  # fmt: skip
    done = client.post("/tags/revert", body)
    if json_:
        print_json(done)
        return
    was = f" (was {done['previous']})" if done["previous"] else " (it had been deleted)"
    say(f"{repository}:{tag} now points to {done['digest']}{was}.")


@app.command()
@admin_command
def follow(
    client: AdminClient,
    ref: TagRef,
    source: Annotated[str, typer.Argument(help="The tag it follows: REPOSITORY:TAG.")],
) -> None:
    """Make the tag follow another tag: it moves whenever that one moves."""
    row = client.put("/tags/follow", {"tag": ref, "follows": source})
    say(f"{row['repository']}:{row['tag']} follows {row['source_repository']}:"
        f"{row['source_tag']}.")  # fmt: skip


@app.command()
@admin_command
def unfollow(client: AdminClient, ref: TagRef) -> None:
    """Stop following; the tag keeps the digest it has."""
    client.delete("/tags/follow", params={"tag": ref})
    say(f"{ref} follows no tag any more.")
