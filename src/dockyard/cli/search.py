"""`dockyard search TEXT`: find repositories, tags and images by name, `repository:tag`,
digest or digest prefix (an image ID too), through `GET /api/v1/search`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say

__all__ = ["search"]


@admin_command
def search(
    client: AdminClient,
    text: Annotated[
        str,
        typer.Argument(
            help="A name or part of one, repository:tag, or a digest or its first 6+ hex "
            "characters (sha256: optional; an image ID, a layer digest or a layer's diff ID)."
        ),
    ],
    limit: Annotated[
        int, typer.Option(min=1, max=500, help="At most this many results of each kind.")
    ] = 50,
    json_: JsonFlag = False,
) -> None:
    """Search what you can read: repositories, tags, and images by digest."""
    answer: dict[str, Any] = client.get("/search", {"q": text, "limit": limit})
    if json_:
        print_json(answer)
        return
    repositories = answer.get("repositories", [])
    tags = answer.get("tags", [])
    digests = answer.get("digests", [])
    if repositories:
        print_table(["REPOSITORY"], ([r["name"]] for r in repositories), empty="")
    if tags:
        print_table(
            ["REPOSITORY", "TAG", "DIGEST"],
            ([t["repository"], t["tag"], t["digest"]] for t in tags),
            empty="",
        )
    if digests:
        print_table(
            ["REPOSITORY", "MANIFEST", "MATCH", "MATCHED DIGEST", "TAGS"],
            (_digest_row(d) for d in digests),
            empty="",
        )
    if not (repositories or tags or digests):
        say(f"Nothing found (searched as {' and '.join(answer.get('interpreted_as', []))}).")
    elif answer.get("truncated"):
        say(f"More results than shown: narrow the search or raise --limit (now {limit}).")


def _digest_row(match: dict[str, Any]) -> list[str]:
    tags = ", ".join(match.get("tags", []))
    via_index = ", ".join(match.get("index_tags", []))
    if via_index:
        tags = f"{tags}; index: {via_index}" if tags else f"index: {via_index}"
    if match.get("more_tags"):
        tags = f"{tags} and {match['more_tags']} more"
    return [
        match["repository"],
        match["manifest"],
        match["match"],
        match["matched_digest"],
        tags,
    ]
