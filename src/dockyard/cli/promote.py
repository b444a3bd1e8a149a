"""`dockyard promote REF --to ENV`: move an image into the next environment, server-side
and by digest; `dockyard approve REF --for ENV` approves it where a gate asks for that;
`dockyard promotions` shows the record."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, when

__all__ = ["approve", "promote", "promotions"]

Reference = Annotated[str, typer.Argument(help="REPOSITORY:TAG or REPOSITORY@DIGEST.")]


def _gates(gates: list[dict[str, Any]]) -> str:
    return "; ".join(f"{'passed' if g['passed'] else 'FAILED'}: {g['detail']}" for g in gates)


@admin_command
def promote(
    client: AdminClient,
    reference: Reference,
    to: Annotated[str, typer.Option("--to", help="The environment to promote into.")],
    tag: Annotated[
        str | None, typer.Option("--tag", help="The tag in the target (default: the same).")
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """Promote an image into an environment: the same digest, no byte copied."""
    result = client.post("/promotions", {"source": reference, "to": to, "tag": tag})
    if json_:
        print_json(result)
        return
    say(
        f"Promoted {result['source_repository']}@{result['digest']} to "
        f"{result['target_repository']}:{result['target_tag']} ({result['manifests']} "
        f"manifests, {result['blobs']} blobs linked, none copied)."
    )
    if result["gates"]:
        say(f"Gates: {_gates(result['gates'])}.")


@admin_command
def approve(
    client: AdminClient,
    reference: Reference,
    environment: Annotated[str, typer.Option("--for", help="The environment it may go to.")],
    note: Annotated[str | None, typer.Option("--note", help="Why (kept with it).")] = None,
    json_: JsonFlag = False,
) -> None:
    """Approve an image for an environment whose gate asks for an approval."""
    body = {"source": reference, "environment": environment, "note": note}
    approval = client.post("/approvals", body)
    if json_:
        print_json(approval)
        return
    say(f"Approved {approval['digest']} for {approval['environment']}.")


@admin_command
def promotions(
    client: AdminClient,
    repository: Annotated[
        str | None, typer.Option("--repository", help="Into or out of this repository.")
    ] = None,
    application: Annotated[
        str | None, typer.Option("--application", help="This application (`shop/api`).")
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """Promotions, newest first."""
    params = {k: v for k, v in (("repository", repository), ("application", application)) if v}
    found = client.get("/promotions", params=params)
    if json_:
        print_json(found)
        return
    print_table(
        ["WHEN", "BY", "FROM", "TO", "DIGEST", "GATES"],
        ([when(p["at"]), p["actor"] or "", f"{p['source_repository']}:{p['source_tag'] or ''}",
          f"{p['target_repository']}:{p['target_tag']}", p["digest"][:19],
          _gates(p["gates"]) or "none"] for p in found),
        empty="No promotions.",
    )  # fmt: skip
