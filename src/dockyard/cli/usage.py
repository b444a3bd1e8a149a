"""`dockyard usage [TARGET]`: storage used, each blob counted once. No TARGET: every
namespace you can see with its quota, and the largest repositories; a namespace (`dev`):
its usage, own (linked in no other namespace) and shared, its quota and largest
repositories; a repository (`dev/app`): its usage, own (linked in no other repository) and
shared. `--recount` rebuilds the namespace counters from the links (registry admins).

`dockyard namespace quota set|clear|show` (cli/namespaces.py) manages the quotas."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient, repository_path, segment
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, when
from dockyard.registry.sizes import format_size

__all__ = ["quota_text", "usage"]


def _percent(used: int, quota: int) -> str:
    return f"{used * 100 / quota:.0f}%" if quota else ("100%" if used else "0%")


def quota_text(size: dict[str, Any]) -> str:
    """`1.2 GiB of 10.0 GiB (12%)`, or `no quota`."""
    quota = size.get("quota")
    if quota is None:
        return "no quota"
    text = (
        f"{format_size(size['used_bytes'])} of {format_size(quota['quota_bytes'])} "
        f"({_percent(size['used_bytes'], quota['quota_bytes'])})"
    )
    return text + (" OVER QUOTA" if size.get("over_quota") else "")


def _quota_cells(size: dict[str, Any]) -> list[str]:
    quota = size.get("quota")
    if quota is None:
        return ["", "", ""]
    share = _percent(size["used_bytes"], quota["quota_bytes"])
    return [
        format_size(quota["quota_bytes"]),
        share + (" over" if size.get("over_quota") else ""),
        quota.get("set_by") or "",
    ]


def _largest(rows: list[dict[str, Any]]) -> None:
    print_table(
        ["REPOSITORY", "SIZE", "OWN", "SHARED", "BLOBS"],
        (
            [
                r["name"], format_size(r["usage"]["total_bytes"]),
                format_size(r["usage"]["own_bytes"]), format_size(r["usage"]["shared_bytes"]),
                str(r["usage"]["blobs"]),
            ]
            for r in rows
        ),
        empty="No repositories.",
    )  # fmt: skip


def _summary(client: AdminClient, top: int, json_: bool) -> None:
    found = client.get("/usage", {"top": top})
    if json_:
        print_json(found)
        return
    print_table(
        ["NAMESPACE", "USED", "QUOTA", "OF QUOTA", "QUOTA SET BY"],
        ([n["name"], format_size(n["used_bytes"]), *_quota_cells(n)] for n in found["namespaces"]),
        empty="No namespaces.",
    )
    if found["largest"]:
        say("Largest repositories:")
        _largest(found["largest"])


def _blobs(count: int) -> str:
    return f"{count} blob" if count == 1 else f"{count} blobs"


def _split_line(u: dict[str, Any], own: str) -> str:
    return (
        f"{format_size(u['total_bytes'])} in {_blobs(u['blobs'])}: "
        f"{format_size(u['own_bytes'])} {own}, "
        f"{format_size(u['shared_bytes'])} shared ({_blobs(u['shared_blobs'])})"
    )


def _namespace(client: AdminClient, name: str, top: int, json_: bool) -> None:
    found = client.get(f"/usage/namespaces/{segment(name)}", {"top": top})
    if json_:
        print_json(found)
        return
    print_table(
        ["NAMESPACE", "USED", "OWN", "SHARED", "QUOTA"],
        [[
            found["name"], format_size(found["usage"]["total_bytes"]),
            format_size(found["usage"]["own_bytes"]), format_size(found["usage"]["shared_bytes"]),
            quota_text(found),
        ]],
        empty="",
    )  # fmt: skip
    say(f"{name}: {_split_line(found['usage'], 'only in this namespace')}.")
    if found["quota"]:
        q = found["quota"]
        say(f"Quota set by {q['set_by'] or 'an admin'} on {when(q['set_at'])}.")
    _largest(found["largest"])


def _repository(client: AdminClient, name: str, json_: bool) -> None:
    found = client.get(f"/usage/repositories/{repository_path(name)}")
    if json_:
        print_json(found)
        return
    u = found["usage"]
    print_table(
        ["REPOSITORY", "SIZE", "OWN", "SHARED", "BLOBS", "NAMESPACE QUOTA"],
        [[
            found["name"], format_size(u["total_bytes"]), format_size(u["own_bytes"]),
            format_size(u["shared_bytes"]), str(u["blobs"]), quota_text(found["namespace"]),
        ]],
        empty="",
    )  # fmt: skip
    say(f"{name}: {_split_line(u, 'only in this repository')}.")


@admin_command
def usage(
    client: AdminClient,
    target: Annotated[
        str | None,
        typer.Argument(help="A namespace (`dev`) or a repository (`dev/app`); none: all."),
    ] = None,
    top: Annotated[int, typer.Option(min=0, max=100, help="How many of the largest.")] = 10,
    recount: Annotated[
        bool,
        typer.Option("--recount", help="Rebuild the namespace counters first (registry admins)."),
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Storage used per namespace and repository, own and shared, and the quotas."""
    if recount:
        client.post("/usage/recount", None)
        say("Namespace usage recounted from the repositories' links.")
    if target is None:
        _summary(client, top, json_)
    elif "/" in target:
        _repository(client, target, json_)
    else:
        _namespace(client, target, top, json_)
