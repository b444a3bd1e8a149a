"""`dockyard delete`: tags (`REPO:TAG`…), manifests (`REPO@DIGEST`…), a whole repository
(`--repository`) or a layer from every repository (`--layer`, the leaked-secret clean-up).
It shows what goes and how many bytes become reclaimable, then asks, unless `--yes`;
`--dry-run` only shows. `dockyard undo-delete HANDLE` undoes an `--undoable` delete."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import AdminClient, segment
from dockyard.cli.options import JsonFlag, admin_command
from dockyard.cli.output import print_json, print_table, say, when

__all__ = ["delete", "undo_delete"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def size_text(count: int) -> str:
    """`1536` -> `1.5 KiB`."""
    value = float(count)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _split(target: str) -> tuple[str, str, str]:
    """`repo:tag` -> ("tag", repo, tag); `repo@digest` -> ("manifest", repo, digest)."""
    if "@" in target:
        repository, _, digest = target.partition("@")
        return "manifest", repository, digest
    repository, sep, tag = target.rpartition(":")
    if not sep or not repository or "/" in tag:
        raise typer.BadParameter(f"{target!r}: expected REPOSITORY:TAG or REPOSITORY@DIGEST")
    return "tag", repository, tag


def _request(targets: list[str], repository: str | None, layer: str | None) -> dict[str, Any]:
    if sum(bool(x) for x in (targets, repository, layer)) != 1:
        raise typer.BadParameter("give REPO:TAG / REPO@DIGEST targets, --repository or --layer")
    if repository:
        return {"kind": "repository", "repository": repository}
    if layer:
        return {"kind": "layer", "digest": layer}
    split = [_split(target) for target in targets]
    kinds = {kind for kind, _, _ in split}
    repositories = {name for _, name, _ in split}
    if len(kinds) > 1 or len(repositories) > 1:
        raise typer.BadParameter("one repository and one kind (tags or digests) at a time")
    kind, name = kinds.pop(), repositories.pop()
    key = "tags" if kind == "tag" else "digests"
    return {"kind": kind, "repository": name, key: [ref for _, _, ref in split]}


def _show(plan: dict[str, Any]) -> None:
    manifests = plan.get("manifests", [])
    if manifests:
        print_table(
            ["REPOSITORY", "MANIFEST", "ROLE", "TAGS"],
            ([m["repository"], m["digest"], m["role"], ", ".join(m["tags"])] for m in manifests),
            empty="",
        )
    elif plan.get("tags"):
        print_table(
            ["REPOSITORY", "TAG", "DIGEST"],
            ([t["repository"], t["tag"], t["digest"]] for t in plan["tags"]),
            empty="",
        )
    say(
        f"Deleting {plan['kind']} {plan['target']}: {len(manifests)} manifests and "
        f"{len(plan.get('tags', []))} tags go; {size_text(plan['reclaimable_bytes'])} "
        "become reclaimable."
    )
    if plan.get("hidden") or plan.get("hidden_repositories"):
        say(
            f"{plan['hidden']} more images in {plan['hidden_repositories']} repositories you "
            "do not administer use it: only a registry admin can purge it."
        )
    for hit in plan.get("immutable", []):
        say(hit["message"] + " (a registry admin may pass --override-immutable)")


@admin_command
def delete(
    client: AdminClient,
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="REPO:TAG (that tag only) or REPO@DIGEST (the manifest, all "
            "its tags and accessories), several of one repository."
        ),
    ] = None,
    repository: Annotated[
        str | None, typer.Option("--repository", help="Delete this whole repository.")
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option(
            "--layer",
            help="Delete every image using this layer digest, in every repository, and the "
            "layer itself.",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only.")] = False,
    undoable: Annotated[
        bool, typer.Option("--undoable", help="Tags/manifests: keep an undo handle.")
    ] = False,
    override_immutable: Annotated[
        bool,
        typer.Option(
            "--override-immutable",
            help="Registry admins: delete immutable tags too (recorded in the audit log).",
        ),
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Delete tags, manifests, a repository or a layer, after showing what goes."""
    body = _request(targets or [], repository, layer)
    # A script asking for JSON without a prompt gets the result alone; everyone else sees
    # the plan first.
    if dry_run or not (yes and json_):
        plan = client.post("/deletions/preview", body)
        if json_ and dry_run:
            print_json(plan)
            return
        _show(plan)
        if dry_run:
            return
        if not yes and not typer.confirm("Delete?", default=False, err=True):
            say("Nothing deleted.")
            raise typer.Exit(1)
    options = {"undoable": undoable, "override_immutable": override_immutable}
    result = client.post("/deletions", body | options)
    if json_:
        print_json(result)
        return
    deleted = result["deleted"]
    say(
        f"Deleted {deleted['kind']} {deleted['target']}: {len(deleted['manifests'])} manifests, "
        f"{len(deleted['tags'])} tags; {size_text(deleted['reclaimable_bytes'])} reclaimable."
    )
    if result.get("undo"):
        say(f"Undo until {when(result['undo_until'])}: dockyard undo-delete {result['undo']}")


@admin_command
def undo_delete(
    client: AdminClient,
    handle: Annotated[str, typer.Argument(help="The handle an --undoable delete printed.")],
    json_: JsonFlag = False,
) -> None:
    """Undo a tag or manifest delete made with --undoable, while its window lasts."""
    result = client.post(f"/deletions/{segment(handle)}/undo", {})
    if json_:
        print_json(result)
        return
    say(
        f"Restored {len(result['manifests'])} manifests and {len(result['tags'])} tags "
        f"in {result['repository']}."
    )
